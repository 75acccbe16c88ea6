/**
 * A chat conversation as the wallet keeps it: in this browser only (localStorage, per account), never on the node.
 * The prompt of each request is the conversation so far as plain text, cut to the node's limit at a turn boundary.
 */
import { CHAT_LIMITS } from '../../../protocol/inference.js';

/** What the node said about one answer. */
export interface AnswerMeta {
  model: string;
  version?: number;
  /** Tokens streamed. */
  tokens: number;
  /** What the answer cost (ALC base units, decimal), from `start`: charged once its first token was sampled. */
  fee?: string;
  /** Spans' contributors that served it, from `done`. */
  contributors?: number;
  /** Whether the node checked the spans' outputs by recomputation. */
  checked?: boolean;
  /** `notice` events (a span moved to another contributor...). */
  notices: string[];
  /** Why the answer ended early, in words (an `error` event, or the stream was cut). */
  problem?: string;
  /** The answer ended with `done`. */
  done: boolean;
}

export type Turn = { role: 'user'; text: string; at: number } | { role: 'model'; text: string; at: number; meta: AnswerMeta };

export const USER_LABEL = 'User';
export const MODEL_LABEL = 'Ailo';

/**
 * The prompt for the next answer: each turn on its own line as `User: text` or `Ailo:text` (an answer keeps its own
 * leading space, as the model produced it), then `Ailo:` for the model to continue. Oldest turns are left out until
 * it fits `maxChars`; a single message longer than that keeps its end.
 */
export function conversationPrompt(turns: readonly Turn[], maxChars: number = CHAT_LIMITS.maxPromptChars): string {
  const lines = turns
    .filter((t) => t.text.length > 0)
    .map((t) => (t.role === 'user' ? `${USER_LABEL}: ${t.text}` : `${MODEL_LABEL}:${t.text}`));
  const join = (from: number): string => [...lines.slice(from), `${MODEL_LABEL}:`].join('\n');
  let first = 0;
  while (first < lines.length - 1 && join(first).length > maxChars) first++;
  const prompt = join(first);
  return prompt.length > maxChars ? prompt.slice(prompt.length - maxChars) : prompt;
}

/** The key-value store conversations live in: `localStorage` in the page, a Map in the tests. */
export interface TextStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** At most this many turns are kept (the prompt uses far fewer). */
export const MAX_TURNS = 200;

/** Each account's conversation in `storage`, under a key of its address. Stored data is checked on the way in. */
export class ConversationStore {
  constructor(private readonly storage: TextStorage) {}

  private key(address: string): string {
    return `ailo.chat.v1.${address.toLowerCase()}`;
  }

  /** The account's turns; [] when none are stored or what is stored is not a conversation. */
  load(address: string): Turn[] {
    let raw: unknown;
    try {
      raw = JSON.parse(this.storage.getItem(this.key(address)) ?? '[]');
    } catch {
      return [];
    }
    return Array.isArray(raw) ? raw.filter(isTurn) : [];
  }

  /** Keeps the last MAX_TURNS turns. A full storage quota drops the oldest half and tries once more. */
  save(address: string, turns: readonly Turn[]): void {
    const kept = turns.slice(-MAX_TURNS);
    try {
      this.storage.setItem(this.key(address), JSON.stringify(kept));
    } catch {
      this.storage.setItem(this.key(address), JSON.stringify(kept.slice(Math.floor(kept.length / 2))));
    }
  }

  clear(address: string): void {
    this.storage.removeItem(this.key(address));
  }
}

function isTurn(t: unknown): t is Turn {
  const x = t as Partial<Turn> | null;
  if (typeof x !== 'object' || x === null || typeof x.text !== 'string' || typeof x.at !== 'number') return false;
  if (x.role === 'user') return true;
  if (x.role !== 'model') return false;
  const m = (x as { meta?: Partial<AnswerMeta> }).meta;
  return typeof m === 'object' && m !== null && typeof m.model === 'string' && typeof m.tokens === 'number' && Array.isArray(m.notices);
}
