/**
 * Freshness and single use of signed task requests: a request is honoured only within `windowMs` of the node's clock
 * (either side, for clock skew), and each (wallet, nonce) only once. A nonce is remembered only until its request
 * could no longer be fresh, so memory is bounded by the requests honoured within two windows. With a `file`, the
 * used nonces survive a restart (written atomically on every use): a request captured before a restart cannot take
 * a wallet's slot again after it.
 */
import { readFileSync } from 'node:fs';
import writeFileAtomic from 'write-file-atomic';
import type { Address } from '../../chain/address.js';
import type { TaskRequest } from '../../chain/tx/task-request.js';
import { federationError } from './errors.js';

export const TASK_REQUEST_WINDOW_MS = 2 * 60_000;

export class TaskRequestGuard {
  /** `${wallet}:${nonce}` -> when it may be forgotten; insertion order is acceptance order, so expiry is too. */
  private readonly seen = new Map<string, number>();

  constructor(readonly windowMs = TASK_REQUEST_WINDOW_MS, private readonly now: () => number = Date.now, private readonly file?: string) {
    if (!file) return;
    let saved: unknown;
    try {
      saved = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      return; // none yet (or unreadable: then only requests issued after this start can be replays of nothing kept)
    }
    if (!Array.isArray(saved)) return;
    for (const entry of saved) {
      if (Array.isArray(entry) && typeof entry[0] === 'string' && typeof entry[1] === 'number') this.seen.set(entry[0], entry[1]);
    }
    this.prune(this.now());
  }

  /** Throws STALE_TASK_REQUEST or REPLAYED_TASK_REQUEST; changes nothing. */
  check(req: TaskRequest): void {
    const now = this.now();
    this.prune(now);
    const skew = Number(req.issuedAt) - now;
    if (Math.abs(skew) > this.windowMs) {
      const how = skew < 0 ? `${Math.round(-skew / 1000)} s old` : `${Math.round(skew / 1000)} s in the future`;
      throw federationError('STALE_TASK_REQUEST',
        `the task request was issued at ${instant(req.issuedAt)}, ${how} by this node's clock (${new Date(now).toISOString()}); ` +
        `a request must be signed within ${this.windowMs / 1000} s of it: check this computer's clock, then sign a new request`);
    }
    if (this.seen.has(key(req.wallet, req.nonce))) {
      throw federationError('REPLAYED_TASK_REQUEST', `this signed task request (nonce ${req.nonce}) was already used; sign a new request with a fresh random nonce`);
    }
  }

  /** Records a request that was honoured, so that it cannot be used again. */
  use(req: TaskRequest): void {
    // Fresh for at most issuedAt + window, and issuedAt <= now + window: forgetting after now + 2 windows is safe.
    this.seen.set(key(req.wallet, req.nonce), this.now() + 2 * this.windowMs);
    if (this.file) {
      this.prune(this.now());
      writeFileAtomic.sync(this.file, JSON.stringify([...this.seen]));
    }
  }

  get size(): number {
    return this.seen.size;
  }

  private prune(now: number): void {
    for (const [k, until] of this.seen) {
      if (until >= now) break;
      this.seen.delete(k);
    }
  }
}

const key = (wallet: Address, nonce: string): string => `${wallet}:${nonce}`;

/** Unix ms as ISO time, or as the number where no Date can hold it (a uint64 reaches far past year 275760). */
const instant = (ms: bigint): string => (ms <= 8_640_000_000_000_000n ? new Date(Number(ms)).toISOString() : `${ms} ms`);
