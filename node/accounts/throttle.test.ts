import { describe, expect, it } from 'vitest';
import { FailureThrottle } from './throttle.js';

describe('FailureThrottle', () => {
  const policy = { freeFailures: 2, baseLockMs: 1000, maxLockMs: 5000, forgetAfterMs: 60_000 };

  it('allows the free failures, then locks for doubling times up to the cap', () => {
    let now = 0;
    const t = new FailureThrottle(policy, () => now);
    const locks: number[] = [];
    for (let i = 0; i < 6; i++) {
      t.fail('k');
      locks.push(t.retryAfterMs('k'));
    }
    expect(locks).toEqual([0, 0, 1000, 2000, 4000, 5000]);
    now += 4999;
    expect(t.retryAfterMs('k')).toBe(1);
    now += 1;
    expect(t.retryAfterMs('k')).toBe(0);
    expect(t.retryAfterMs('other')).toBe(0);
  });

  it('forgets a quiet key and clears on success', () => {
    let now = 0;
    const t = new FailureThrottle(policy, () => now);
    t.fail('k');
    t.fail('k');
    now += 60_001;
    expect(t.failures('k')).toBe(0);
    t.fail('k');
    t.fail('k');
    t.fail('k');
    expect(t.retryAfterMs('k')).toBe(1000);
    t.clear('k');
    expect(t.retryAfterMs('k')).toBe(0);
  });

  it('keeps memory bounded by dropping the least recently failed keys', () => {
    const t = new FailureThrottle(policy, () => 0, 3);
    for (const k of ['a', 'b', 'c', 'd']) t.fail(k);
    expect(t.failures('a')).toBe(0);
    expect(t.failures('d')).toBe(1);
  });
});
