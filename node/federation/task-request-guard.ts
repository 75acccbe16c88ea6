/**
 * Freshness and single use of wallet-signed requests (chain/tx/task-request.ts: task requests, and inference joins with
 * a guard of their own): a request is honoured only within `windowMs` of the node's clock (either side, for clock
 * skew), and each (wallet, nonce) only once. A nonce is remembered only until its request could no longer be fresh, so
 * memory is bounded by the requests honoured within two windows. With a `file`, the used nonces survive a restart:
 * each use is appended as one JSON line (synced), read back at start, and the file is rewritten atomically with only
 * the live entries once it holds twice as many lines as are live (plus 1,000), so a request captured before a restart
 * cannot take a wallet's slot again after it, at one small append per request.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import writeFileAtomic from 'write-file-atomic';
import type { Address } from '../../protocol/address.js';
import type { WalletRequest } from '../../chain/tx/task-request.js';
import { federationError } from './errors.js';

export const TASK_REQUEST_WINDOW_MS = 2 * 60_000;

export class TaskRequestGuard {
  /** `${wallet}:${nonce}` -> when it may be forgotten; insertion order is acceptance order, so expiry is too. */
  private readonly seen = new Map<string, number>();

  /** Lines in the file now (live or expired). */
  private lines = 0;

  constructor(
    readonly windowMs = TASK_REQUEST_WINDOW_MS,
    private readonly now: () => number = Date.now,
    private readonly file?: string,
    /** What the requests are, in messages: 'task request', 'inference join'. */
    private readonly what = 'task request',
  ) {
    if (!file) return;
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return; // none yet
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      this.lines++;
      try {
        const entry: unknown = JSON.parse(line);
        if (Array.isArray(entry) && typeof entry[0] === 'string' && typeof entry[1] === 'number') this.seen.set(entry[0], entry[1]);
      } catch {
        // a line cut short by a crash mid-append: the entries before it stand
      }
    }
    // End a line cut short, so that the next append starts a line of its own.
    if (text.length > 0 && !text.endsWith('\n')) appendFileSync(file, '\n', { flush: true });
    this.prune(this.now());
  }

  /** Throws STALE_TASK_REQUEST or REPLAYED_TASK_REQUEST (whatever the requests are); changes nothing. */
  check(req: WalletRequest): void {
    const now = this.now();
    this.prune(now);
    const skew = Number(req.issuedAt) - now;
    if (Math.abs(skew) > this.windowMs) {
      const how = skew < 0 ? `${Math.round(-skew / 1000)} s old` : `${Math.round(skew / 1000)} s in the future`;
      throw federationError(
        'STALE_TASK_REQUEST',
        `the ${this.what} was issued at ${instant(req.issuedAt)}, ${how} by this node's clock (${new Date(now).toISOString()}); ` +
          `a request must be signed within ${this.windowMs / 1000} s of it: check this computer's clock, then sign a new request`,
      );
    }
    if (this.seen.has(key(req.wallet, req.nonce))) {
      throw federationError(
        'REPLAYED_TASK_REQUEST',
        `this signed ${this.what} (nonce ${req.nonce}) was already used; sign a new request with a fresh random nonce`,
      );
    }
  }

  /** Records a request that was honoured, so that it cannot be used again. */
  use(req: WalletRequest): void {
    // Fresh for at most issuedAt + window, and issuedAt <= now + window: forgetting after now + 2 windows is safe.
    const k = key(req.wallet, req.nonce);
    const until = this.now() + 2 * this.windowMs;
    this.seen.set(k, until);
    if (!this.file) return;
    this.prune(this.now());
    if (this.lines >= 2 * this.seen.size + 1000) {
      writeFileAtomic.sync(this.file, [...this.seen].map((e) => JSON.stringify(e) + '\n').join(''));
      this.lines = this.seen.size;
    } else {
      appendFileSync(this.file, JSON.stringify([k, until]) + '\n', { flush: true });
      this.lines++;
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
