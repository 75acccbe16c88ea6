/** The events pages send up to the app. */
import type { AccountSession } from '../account/account-session.js';
import { WrongKeyError } from '../crypto/account-keys.js';

export interface PendingTransfer {
  hash: string;
  from: string;
  to: string;
  amount: string;
  sentAt: number;
}

export interface AiloEvents {
  navigate: { path: string };
  'session-started': { session: AccountSession; recoveryKey?: string; recovered?: boolean };
  'recovery-key-issued': { recoveryKey: string };
  'transfer-sent': PendingTransfer;
  'log-out': Record<string, never>;
}

export function emit<K extends keyof AiloEvents>(from: HTMLElement, type: K, detail: AiloEvents[K]): void {
  from.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
}

/** Words for a failed request, whatever threw it. */
export function problemText(err: unknown): string {
  if (err instanceof Error) return err.message.charAt(0).toUpperCase() + err.message.slice(1);
  return String(err);
}

/**
 * Unlocks the session's wallet key with the password field of a submitted form (after a reload the session survives,
 * the key does not). Returns what to show when it fails ("Wrong password.", or the problem), undefined when unlocked.
 */
export async function unlockFromForm(session: AccountSession, e: SubmitEvent): Promise<string | undefined> {
  e.preventDefault();
  const password = String(new FormData(e.target as HTMLFormElement).get('password'));
  try {
    await session.unlock(password);
    return undefined;
  } catch (err) {
    return err instanceof WrongKeyError ? 'Wrong password.' : problemText(err);
  }
}
