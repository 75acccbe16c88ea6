/** Freshness and single use of signed task requests, and that the nonces it keeps do not outlive the window. */
import { describe, expect, it } from 'vitest';
import type { Hex } from '../../protocol/bytes.js';
import { wallet } from '../../chain/test/fixtures.js';
import type { TaskRequest } from '../../chain/tx/task-request.js';
import { toApiError } from '../api/errors.js';
import { FederationError } from './errors.js';
import { TaskRequestGuard } from './task-request-guard.js';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const W = 120_000;
const nonce = (n: number): Hex => `0x${n.toString(16).padStart(64, '0')}`;
const req = (issuedAt: number, n = 1, who = wallet(1).address): TaskRequest => ({
  wallet: who,
  coordinator: wallet(2).address,
  issuedAt: BigInt(issuedAt),
  nonce: nonce(n),
});

function code(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    // The domain error, as the API answers it.
    if (err instanceof FederationError) return `${toApiError(err).status} ${err.code}`;
    throw err;
  }
  return 'ok';
}

describe('TaskRequestGuard', () => {
  it('honours requests within the window either side of the clock, and refuses the rest as stale', () => {
    const now = 10_000_000;
    const g = new TaskRequestGuard(W, () => now);
    expect(code(() => g.check(req(now - W)))).toBe('ok');
    expect(code(() => g.check(req(now + W)))).toBe('ok');
    expect(code(() => g.check(req(now - W - 1)))).toBe('400 STALE_TASK_REQUEST');
    expect(code(() => g.check(req(now + W + 1)))).toBe('400 STALE_TASK_REQUEST');
    expect(code(() => g.check(req(0)))).toBe('400 STALE_TASK_REQUEST');
    // the largest uint64 is far past what a Date holds: still a named refusal, not a crash
    expect(code(() => g.check({ ...req(0), issuedAt: (1n << 64n) - 1n }))).toBe('400 STALE_TASK_REQUEST');
  });

  it('refuses a used (wallet, nonce) as long as its request is fresh, and forgets it afterwards', () => {
    let now = 10_000_000;
    const g = new TaskRequestGuard(W, () => now);
    const r = req(now + W); // the latest a request can be fresh
    g.use(r);
    expect(code(() => g.check(r))).toBe('409 REPLAYED_TASK_REQUEST');
    // another wallet's request with the same nonce is its own
    expect(code(() => g.check(req(now + W, 1, wallet(2).address)))).toBe('ok');
    now += 2 * W;
    expect(code(() => g.check(r))).toBe('409 REPLAYED_TASK_REQUEST');
    now += 1;
    expect(code(() => g.check(r))).toBe('400 STALE_TASK_REQUEST');
    expect(g.size).toBe(0);
  });

  it('names what it guards in its messages: task requests by default, inference joins when told', () => {
    const now = 10_000_000;
    const message = (g: TaskRequestGuard, r: TaskRequest): string => {
      try {
        g.check(r);
      } catch (err) {
        return (err as Error).message;
      }
      return 'ok';
    };
    const tasks = new TaskRequestGuard(W, () => now);
    const joins = new TaskRequestGuard(W, () => now, undefined, 'inference join');
    expect(message(tasks, req(0))).toMatch(/^the task request was issued at 1970-01-01T00:00:00.000Z, 10000 s old/);
    expect(message(joins, req(0))).toMatch(/^the inference join was issued at 1970-01-01T00:00:00.000Z, 10000 s old/);
    tasks.use(req(now));
    joins.use(req(now));
    expect(message(tasks, req(now))).toBe(
      `this signed task request (nonce ${nonce(1)}) was already used; sign a new request with a fresh random nonce`,
    );
    expect(message(joins, req(now))).toBe(
      `this signed inference join (nonce ${nonce(1)}) was already used; sign a new request with a fresh random nonce`,
    );
    expect(code(() => joins.check(req(now)))).toBe('409 REPLAYED_TASK_REQUEST');
  });

  it('keeps no more nonces than were used within two windows', () => {
    let now = 10_000_000;
    const g = new TaskRequestGuard(W, () => now);
    for (let i = 0; i < 1000; i++) {
      now += 1000;
      const r = req(now, i);
      g.check(r);
      g.use(r);
    }
    expect(g.size).toBeLessThanOrEqual((2 * W) / 1000 + 1);
  });

  it('remembers used requests across a restart when given a file (a captured request cannot take a slot again)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ailo-guard-'));
    try {
      const file = join(dir, 'used.json');
      let now = 10_000_000;
      const before = new TaskRequestGuard(W, () => now, file);
      const r = req(now);
      before.check(r);
      before.use(r);
      now += 1000;
      const after = new TaskRequestGuard(W, () => now, file);
      expect(code(() => after.check(r))).toBe('409 REPLAYED_TASK_REQUEST');
      expect(code(() => after.check(req(now, 2)))).toBe('ok');
      // a line cut short by a crash mid-append loses nothing before it
      appendFileSync(file, '["0xhalf-writ');
      expect(code(() => new TaskRequestGuard(W, () => now, file).check(r))).toBe('409 REPLAYED_TASK_REQUEST');
      // and the next use after it is a line of its own, read back
      const next = req(now, 77);
      new TaskRequestGuard(W, () => now, file).use(next);
      expect(code(() => new TaskRequestGuard(W, () => now, file).check(next))).toBe('409 REPLAYED_TASK_REQUEST');
      // the file is an append log, compacted to the live entries once it holds many expired ones
      const busy = new TaskRequestGuard(W, () => now, file);
      for (let i = 0; i < 3000; i++) {
        now += 100;
        busy.use(req(now, 1000 + i));
      }
      const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
      expect(lines).toBeLessThanOrEqual(2 * busy.size + 1001);
      expect(lines).toBeGreaterThanOrEqual(busy.size);
      expect(code(() => new TaskRequestGuard(W, () => now, file).check(req(now, 3999)))).toBe('409 REPLAYED_TASK_REQUEST');
      // expired entries are dropped when read back
      now += 2 * W + 1;
      expect(new TaskRequestGuard(W, () => now, file).size).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
