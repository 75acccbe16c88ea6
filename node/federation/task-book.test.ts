/** The task book's rules: slots per wallet, single use, deadlines, and abandoning (what it frees, what it refuses). */
import { describe, expect, it } from 'vitest';
import { wallet } from '../../chain/test/fixtures.js';
import { toApiError } from '../api/errors.js';
import { FederationError } from './errors.js';
import { TaskBook, type TrainingTask } from './task-book.js';

const alice = wallet(301).address;
const bob = wallet(302).address;

function fields(who = alice, deadline = 10_000): Omit<TrainingTask, 'id' | 'state' | 'issuedAt'> {
  return {
    wallet: who,
    modelVersion: 0,
    shardName: 's',
    shardDigest: '00'.repeat(32),
    offset: 0,
    length: 10,
    batchSize: 1,
    seqLen: 9,
    steps: 1,
    lr: 1e-3,
    deadline,
    maxAbs: 1,
    density: 0.01,
    maxValues: 10,
    maxBytes: 100,
  };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    // The domain error, as the API answers it.
    if (err instanceof FederationError) return `${toApiError(err).status} ${err.code}`;
    throw err;
  }
  return 'no error';
}

describe('TaskBook', () => {
  it("abandoning an open task frees its wallet's slot and the task can never be claimed again", () => {
    const book = new TaskBook(2, () => 1_000);
    const a = book.issue(fields());
    book.issue(fields());
    expect(code(() => book.issue(fields()))).toBe('429 TOO_MANY_TASKS');
    expect(book.abandon(a.id, alice).state).toBe('abandoned');
    expect(book.get(a.id)?.state).toBe('abandoned');
    expect(code(() => book.claimable(a.id, alice))).toBe('409 TASK_ABANDONED');
    expect(book.issue(fields()).state).toBe('open');
    expect(code(() => book.issue(fields()))).toBe('429 TOO_MANY_TASKS');
    expect(book.open()).toBe(2);
  });

  it('refuses to abandon an unknown, foreign, used, busy, abandoned or expired task, and changes nothing', () => {
    let now = 1_000;
    const book = new TaskBook(8, () => now);
    const unknown = `0x${'11'.repeat(32)}` as const;
    expect(code(() => book.abandon(unknown, alice))).toBe('404 UNKNOWN_TASK');

    const open = book.issue(fields());
    expect(code(() => book.abandon(open.id, bob))).toBe('403 TASK_NOT_YOURS');
    expect(book.get(open.id)?.state).toBe('open');

    const used = book.issue(fields());
    used.state = 'used';
    expect(code(() => book.abandon(used.id, alice))).toBe('409 TASK_USED');
    expect(used.state).toBe('used');

    const busy = book.issue(fields());
    busy.state = 'busy';
    expect(code(() => book.abandon(busy.id, alice))).toBe('409 TASK_BUSY');
    expect(busy.state).toBe('busy');

    book.abandon(open.id, alice);
    expect(code(() => book.abandon(open.id, alice))).toBe('409 TASK_ABANDONED');

    const late = book.issue(fields(alice, 2_000));
    now = 2_001;
    expect(code(() => book.abandon(late.id, alice))).toBe('410 TASK_EXPIRED');
    expect(late.state).toBe('open');
  });

  it('an expired task holds no slot', () => {
    let now = 1_000;
    const book = new TaskBook(1, () => now);
    book.issue(fields(alice, 2_000));
    expect(code(() => book.issue(fields(alice, 5_000)))).toBe('429 TOO_MANY_TASKS');
    now = 2_001;
    expect(book.issue(fields(alice, 5_000)).state).toBe('open');
    // Other wallets never shared the slot.
    expect(book.issue(fields(bob, 5_000)).state).toBe('open');
  });
});
