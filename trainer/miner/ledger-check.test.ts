import { describe, expect, it } from 'vitest';
import { NodeClient } from '../../protocol/client.js';
import { judgeLedgerRecord, watchContribution, type AcceptedContribution } from './ledger-check.js';

const WALLET = '0x8ba1f109551bD432803012645Ac136ddd64DBA72';
const TASK = `0x${'ab'.repeat(32)}`;
const expected: AcceptedContribution = { contribution: `0x${'cd'.repeat(32)}`, taskId: TASK, wallet: WALLET, reward: '100000000000000000' };
const record = (over: Record<string, unknown> = {}, status = 'confirmed'): Record<string, unknown> => ({
  status,
  height: '12',
  tx: { type: 'contribution', miner: WALLET, reward: '100000000000000000', taskId: TASK, ...over },
});

/** Answers with `bodies` in turn (a number: that status with an empty body), repeating the last. */
function node(bodies: (number | Record<string, unknown>)[]): { client: NodeClient; urls: string[] } {
  const urls: string[] = [];
  const fake = (async (url: string) => {
    const b = bodies[Math.min(urls.length, bodies.length - 1)]!;
    urls.push(url);
    return typeof b === 'number' ? new Response('{}', { status: b }) : new Response(JSON.stringify(b), { status: 200 });
  }) as unknown as typeof fetch;
  return { client: new NodeClient('http://n', { fetch: fake }), urls };
}

describe('ledger check of an accepted submission', () => {
  it('confirms a record in a block with the promised miner (any letter case), reward and task', () => {
    expect(judgeLedgerRecord(record({ miner: WALLET.toLowerCase() }), expected)).toEqual({ status: 'confirmed', height: 12 });
    expect(judgeLedgerRecord(record({}, 'pending'), expected).status).toBe('pending');
  });

  it('flags each field that differs from the promise, pending or not', () => {
    expect(judgeLedgerRecord(record({ reward: '1' }), expected)).toEqual({
      status: 'mismatch',
      detail: 'reward 1 (accepted with 100000000000000000)',
    });
    expect(judgeLedgerRecord(record({ miner: '0x0000000000000000000000000000000000000001' }, 'pending'), expected).status).toBe('mismatch');
    expect(judgeLedgerRecord(record({ type: 'transfer' }), expected).status).toBe('mismatch');
    expect(judgeLedgerRecord(record({ taskId: `0x${'00'.repeat(32)}` }), expected).status).toBe('mismatch');
    expect(judgeLedgerRecord({}, expected).status).toBe('mismatch');
  });

  it('polls through not-found and pending until the record is in a block', async () => {
    const { client, urls } = node([404, record({}, 'pending'), 503, record()]);
    const seen: string[] = [];
    const verdict = await watchContribution(expected, { client, sleep: async () => {}, onChange: (c) => seen.push(c.status) });
    expect(verdict).toEqual({ status: 'confirmed', height: 12 });
    expect(urls).toHaveLength(4);
    expect(urls[0]).toBe(`http://n/api/ledger/tx/${expected.contribution}`);
    // Each change is told once: not found, pending, no answer, in a block.
    expect(seen).toEqual(['checking', 'pending', 'checking', 'confirmed']);
  });

  it('reports a record that never appears as missing at the deadline, and stops at a mismatch', async () => {
    let t = 0;
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    const gone = await watchContribution(expected, {
      client: node([404]).client,
      deadlineMs: 5_000,
      intervalMs: 1_000,
      ...clock,
    });
    expect(gone).toEqual({ status: 'missing', detail: 'not in a block after 5 s: the ledger does not know it' });
    const wrong = node([record({}, 'pending'), record({ reward: '7' })]);
    expect((await watchContribution(expected, { client: wrong.client, ...clock })).status).toBe('mismatch');
    expect(wrong.urls).toHaveLength(2);
    // A record still in the node's pool at the deadline is pending, not missing (the CLI exits 3 only for missing).
    const slow = await watchContribution(expected, { client: node([record({}, 'pending')]).client, deadlineMs: 3_000, ...clock });
    expect(slow.status).toBe('pending');
  });
});
