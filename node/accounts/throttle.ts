/**
 * Failure throttling with exponential backoff, per key ("user:alice", "ip:10.0.0.7"). A few failures are free;
 * after that each failure locks the key for twice as long as the last, up to a cap. Quiet keys are forgotten.
 * In memory: a restart forgets the counts, which costs an attacker a restart they cannot cause.
 */

export interface ThrottlePolicy {
  /** Failures allowed before the first lock. */
  freeFailures: number;
  /** The first lock; each further failure doubles it. */
  baseLockMs: number;
  maxLockMs: number;
  /** A key with no failure for this long starts again from zero. */
  forgetAfterMs: number;
}

interface Entry {
  failures: number;
  lockedUntil: number;
  lastFailure: number;
}

export class FailureThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly policy: ThrottlePolicy,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 100_000,
  ) {}

  /** Milliseconds until `key` may try again; 0 when it may now. */
  retryAfterMs(key: string): number {
    const e = this.live(key);
    return e ? Math.max(0, e.lockedUntil - this.now()) : 0;
  }

  fail(key: string): void {
    const now = this.now();
    const e = this.live(key) ?? { failures: 0, lockedUntil: 0, lastFailure: now };
    e.failures++;
    e.lastFailure = now;
    const over = e.failures - this.policy.freeFailures;
    if (over > 0) e.lockedUntil = now + Math.min(this.policy.maxLockMs, this.policy.baseLockMs * 2 ** Math.min(over - 1, 30));
    this.entries.delete(key); // re-insert so Map order is least recently failed first
    this.entries.set(key, e);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  clear(key: string): void {
    this.entries.delete(key);
  }

  failures(key: string): number {
    return this.live(key)?.failures ?? 0;
  }

  private live(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && this.now() - e.lastFailure > this.policy.forgetAfterMs && this.now() >= e.lockedUntil) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }
}
