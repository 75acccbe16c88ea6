/** The task book's rules: slots per wallet, single use, deadlines, and giving back (what it frees, what it refuses). */
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

  it("refuses to abandon an unknown or another wallet's task; giving back a task that holds no slot changes nothing", () => {
    let now = 1_000;
    const book = new TaskBook(8, () => now);
    const unknown = `0x${'11'.repeat(32)}` as const;
    expect(code(() => book.abandon(unknown, alice))).toBe('404 UNKNOWN_TASK');

    const open = book.issue(fields());
    expect(code(() => book.abandon(open.id, bob))).toBe('403 TASK_NOT_YOURS');
    expect(book.get(open.id)?.state).toBe('open');

    // A stopping miner cannot know whether its submission got in first: the give-back is idempotent.
    for (const state of ['used', 'refused'] as const) {
      const closed = book.issue(fields());
      closed.state = state;
      expect(book.abandon(closed.id, alice).state).toBe(state);
      expect(code(() => book.claimable(closed.id, alice))).toMatch(/^409 /);
    }
    book.abandon(open.id, alice);
    expect(book.abandon(open.id, alice).state).toBe('abandoned');

    const late = book.issue(fields(alice, 2_000));
    now = 2_001;
    expect(book.abandon(late.id, alice).state).toBe('abandoned');
    expect(code(() => book.claimable(late.id, alice))).toBe('409 TASK_ABANDONED');
  });

  it('a task given back while its submission is verified is abandoned if that submission does not close it', () => {
    const book = new TaskBook(1, () => 1_000);
    const refusedLater = book.issue(fields());
    refusedLater.state = 'busy';
    expect(book.abandon(refusedLater.id, alice).state).toBe('busy');
    // The verification ends without closing the task (a ledger error, say): abandoned, not open again, so the
    // stopped miner's slot is free and nobody can submit for it.
    book.release(refusedLater);
    expect(refusedLater.state).toBe('abandoned');
    expect(book.issue(fields()).state).toBe('open');

    const book2 = new TaskBook(1, () => 1_000);
    const acceptedLater = book2.issue(fields());
    acceptedLater.state = 'busy';
    book2.abandon(acceptedLater.id, alice);
    acceptedLater.state = 'used'; // the verification accepted it
    book2.release(acceptedLater);
    expect(acceptedLater.state).toBe('used');

    // Without a give-back a failed verification reopens the task for its miner's next try.
    const retried = book2.issue({ ...fields(bob) });
    retried.state = 'busy';
    book2.release(retried);
    expect(retried.state).toBe('open');
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
