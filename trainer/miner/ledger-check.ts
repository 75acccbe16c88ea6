/**
 * Checks that an accepted submission's `contribution` reached the ledger as the coordinator said when it accepted
 * it: polls GET /api/ledger/tx/<contribution> until the record is in a block, then compares its type, miner,
 * reward and task. Browser-safe: both miners check their rewards with it, and their dashboards show the outcome
 * beside each submission.
 */
import { NO_RETRY, type NodeClient } from '../../protocol/client.js';

/** What the coordinator's acceptance promised. */
export interface AcceptedContribution {
  contribution: string;
  taskId: string;
  wallet: string;
  /** Base units, a decimal string. */
  reward: string;
}

export type LedgerCheck =
  /** Not known yet: detail says what the node answered last (not found, no answer). */
  | { status: 'checking'; detail: string }
  /** In the node's pool with the promised fields, not in a block yet. */
  | { status: 'pending'; detail: string }
  | { status: 'confirmed'; height: number }
  | { status: 'missing'; detail: string }
  /** detail: the fields that differ from the promise. */
  | { status: 'mismatch'; detail: string };

/** Whether the check is over: the record is in a block as promised, or differs from the promise. */
export const settled = (c: LedgerCheck): boolean => c.status === 'confirmed' || c.status === 'mismatch';

interface LedgerTxBody {
  status?: unknown;
  height?: unknown;
  tx?: { type?: unknown; miner?: unknown; reward?: unknown; taskId?: unknown };
}

/** The verdict on one answer of /api/ledger/tx: in a block as promised, different from the promise, or not yet in a block. */
export function judgeLedgerRecord(body: unknown, expected: AcceptedContribution): LedgerCheck {
  const b = (body ?? {}) as LedgerTxBody;
  const tx = b.tx ?? {};
  const differs: string[] = [];
  if (tx.type !== 'contribution') differs.push(`type ${String(tx.type)}`);
  if (typeof tx.miner !== 'string' || tx.miner.toLowerCase() !== expected.wallet.toLowerCase()) differs.push(`miner ${String(tx.miner)}`);
  if (tx.reward !== expected.reward) differs.push(`reward ${String(tx.reward)} (accepted with ${expected.reward})`);
  if (typeof tx.taskId !== 'string' || tx.taskId.toLowerCase() !== expected.taskId.toLowerCase()) differs.push(`task ${String(tx.taskId)}`);
  if (differs.length > 0) return { status: 'mismatch', detail: differs.join(', ') };
  if (b.status === 'confirmed') return { status: 'confirmed', height: Number(b.height) };
  return { status: 'pending', detail: "in the node's pool, not in a block yet" };
}

export interface WatchOptions {
  /**
   * The miner's client, or how to get the one in use now (a miner that moved to another node goes on asking there);
   * each look-up is one try (the watch itself polls again).
   */
  client: NodeClient | (() => NodeClient);
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Between look-ups, ms (default 500). */
  intervalMs?: number;
  /** How long a record may stay unknown or pending before it is reported missing, ms (default 60,000). */
  deadlineMs?: number;
  /** Each verdict that differs from the last one (the first: 'checking' with the ledger's answer). */
  onChange?: (c: LedgerCheck) => void;
  /** Stops the watch: it returns the last verdict, still 'checking' or 'pending'. */
  signal?: AbortSignal;
}

/**
 * Polls until the record is in a block or differs from the promise, or the deadline passes: then a record the node
 * holds in its pool stays pending, one it does not know is missing. Never throws.
 */
export async function watchContribution(expected: AcceptedContribution, o: WatchOptions): Promise<LedgerCheck> {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = o.now ?? Date.now;
  const deadlineMs = o.deadlineMs ?? 60_000;
  const end = now() + deadlineMs;
  let verdict: LedgerCheck = { status: 'checking', detail: 'the node has not answered' };
  const say = (next: LedgerCheck): LedgerCheck => {
    if (JSON.stringify(next) !== JSON.stringify(verdict)) o.onChange?.(next);
    return (verdict = next);
  };
  for (;;) {
    if (o.signal?.aborted) return verdict;
    try {
      const client = typeof o.client === 'function' ? o.client() : o.client;
      const res = await client.request(
        `/api/ledger/tx/${expected.contribution}`,
        { cache: 'no-store' },
        { retry: NO_RETRY, signal: o.signal, what: 'ledger check', transientAsAnswer: true, timeoutMs: 10_000 },
      );
      if (res.status === 404) say({ status: 'checking', detail: 'the ledger does not know it' });
      else if (res.ok) {
        if (settled(say(judgeLedgerRecord(await res.json(), expected)))) return verdict;
      } else say({ status: 'checking', detail: `the node answered ${res.status}` });
    } catch (err) {
      if (o.signal?.aborted) return verdict;
      say({ status: 'checking', detail: `the node did not answer (${err instanceof Error ? err.message : String(err)})` });
    }
    if (now() >= end)
      return (verdict as LedgerCheck).status === 'pending'
        ? verdict
        : say({ status: 'missing', detail: `not in a block after ${Math.round(deadlineMs / 1000)} s: ${verdict.detail}` });
    await sleep(o.intervalMs ?? 500);
  }
}
