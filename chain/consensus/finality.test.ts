/** Casper FFG over the Clique chain (finality.ts): links, justification, finality, slashing conditions. */
import { describe, expect, it } from 'vitest';
import type { Hex } from '../../protocol/bytes.js';
import { toHex } from '../../protocol/bytes.js';
import { keccak256 } from '../../protocol/keccak.js';
import { recoverAddressJs } from '../../protocol/signature.js';
import { wallet } from '../test/fixtures.js';
import {
  decodeVote,
  encodeVote,
  FinalityTracker,
  mayVote,
  needsFinalizingBlock,
  nextVote,
  quorum,
  signVote,
  voteDigest,
  votesConflict,
  type Checkpoint,
} from './finality.js';

const G = toHex(keccak256(new TextEncoder().encode('genesis'))) as Hex;
const voters = [wallet(1), wallet(2), wallet(3), wallet(4)];
const coordinators = voters.map((w) => w.address);
const hashOf = (fork: string, h: number): Hex => (h === 0 ? G : toHex(keccak256(new TextEncoder().encode(`${fork}:${h}`))));
const chainView = (fork: string, height: number, forkAt = 0, base = 'main') => ({
  height: BigInt(height),
  hashAt: (h: bigint) => (h > BigInt(height) ? undefined : hashOf(Number(h) <= forkAt ? base : fork, Number(h))),
});
const cp = (fork: string, h: number): Checkpoint => ({ hash: hashOf(fork, h), height: BigInt(h) });
const vote = (i: number, s: Checkpoint, t: Checkpoint) => signVote(G, s, t, voters[i]!.key, voters[i]!.address);

describe('Casper FFG finality', () => {
  it('quorum is more than two thirds', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(quorum)).toEqual([1, 2, 3, 3, 4, 5, 5]);
  });

  it('encodes, decodes and recovers a vote bound to its genesis', () => {
    const v = vote(0, cp('main', 0), cp('main', 1));
    const back = decodeVote(encodeVote(v));
    expect(back).toEqual({ source: v.source, target: v.target, signature: v.signature });
    expect(recoverAddressJs(voteDigest(G, back.source, back.target), back.signature)).toBe(voters[0]!.address);
    const other = toHex(keccak256(new TextEncoder().encode('another genesis'))) as Hex;
    expect(recoverAddressJs(voteDigest(other, back.source, back.target), back.signature)).not.toBe(voters[0]!.address);
    expect(() => decodeVote(Uint8Array.of(1, 2, 3))).toThrow();
  });

  it('justifies with a quorum from a justified source and finalizes on a link to the direct child', () => {
    const t = new FinalityTracker(coordinators, G);
    const view = chainView('main', 3);
    for (const i of [0, 1]) t.add(vote(i, cp('main', 0), cp('main', 1)));
    expect(t.update(view).justified.height).toBe(0n); // 2 of 4 < 3
    t.add(vote(2, cp('main', 0), cp('main', 1)));
    let s = t.update(view);
    expect([s.justified.height, s.finalized.height]).toEqual([1n, 0n]); // 0 -> 1 is a direct link: genesis stays final
    for (const i of [0, 1, 3]) t.add(vote(i, cp('main', 1), cp('main', 2)));
    s = t.update(view);
    expect([s.justified.height, s.finalized.height]).toEqual([2n, 1n]);
    // a skipping link justifies but finalizes nothing
    for (const i of [0, 1, 2]) t.add(vote(i, cp('main', 1), cp('main', 3)));
    s = t.update(view);
    expect([s.justified.height, s.finalized.height]).toEqual([3n, 1n]);
  });

  it('counts votes only on the chain it looks at, and not those of a coordinator convicted before their target', () => {
    // coordinator 3 convicted by the block at height 0: none of its votes count
    const t = new FinalityTracker(coordinators, G, () => new Map([[voters[3]!.address, 0n]]));
    for (const i of [0, 1, 3]) t.add(vote(i, cp('main', 0), cp('main', 1)));
    expect(t.update(chainView('main', 1)).justified.height).toBe(0n);
    const u = new FinalityTracker(coordinators, G);
    for (const i of [0, 1, 2]) u.add(vote(i, cp('fork', 0), cp('fork', 1)));
    expect(u.evaluate(chainView('main', 1))!.justified.height).toBe(0n);
    expect(u.evaluate(chainView('fork', 1))!.justified.height).toBe(1n);
  });

  it('keeps a justification a later conviction did not prove wrong (else a convict could stall finality)', () => {
    // 3 helps justify block 1, the honest coordinators vote from it, then 3 is convicted by the block at height 2
    const convictions = new Map<(typeof coordinators)[number], bigint>();
    const t = new FinalityTracker(coordinators, G, () => convictions);
    for (const i of [0, 1, 3]) t.add(vote(i, cp('main', 0), cp('main', 1)));
    expect(t.update(chainView('main', 3)).justified.height).toBe(1n);
    convictions.set(voters[3]!.address, 2n);
    expect(t.update(chainView('main', 3)).justified.height).toBe(1n);
    for (const i of [0, 1, 2]) t.add(vote(i, cp('main', 1), cp('main', 2)));
    expect(t.update(chainView('main', 3))).toMatchObject({ finalized: cp('main', 1), justified: cp('main', 2) });
    // ...while its votes from the convicting block on count for nothing
    for (const i of [0, 1, 3]) t.add(vote(i, cp('main', 2), cp('main', 3)));
    expect(t.update(chainView('main', 3)).justified.height).toBe(2n);
    t.add(vote(2, cp('main', 2), cp('main', 3)));
    expect(t.update(chainView('main', 3)).justified.height).toBe(3n);
  });

  it("reports a voter's first conflict once, keeps counting its votes, and never un-justifies", () => {
    const t = new FinalityTracker(coordinators, G);
    const first = vote(3, cp('main', 0), cp('main', 1));
    expect(t.add(first)).toBe('added');
    expect(t.add(vote(3, cp('main', 0), cp('junk1', 1)))).toMatchObject({ kind: 'double', conflict: first });
    expect(t.add(vote(3, cp('main', 0), cp('junk2', 1)))).toBe('added'); // already caught: no second report
    for (const i of [0, 1]) t.add(vote(i, cp('main', 0), cp('main', 1)));
    expect(t.update(chainView('main', 1)).justified.height).toBe(1n); // its vote for block 1 still counts
  });

  it('finds double and surround votes, and the honest guard never casts one', () => {
    const a = vote(0, cp('main', 0), cp('main', 2));
    const b = vote(0, cp('main', 1), cp('fork', 2));
    expect(votesConflict(a, b)).toBe('double');
    const wide = vote(0, cp('main', 0), cp('main', 5));
    const inner = vote(0, cp('main', 1), cp('main', 3));
    expect(votesConflict(wide, inner)).toBe('surround');
    expect(votesConflict(vote(0, cp('main', 1), cp('main', 2)), vote(0, cp('main', 2), cp('main', 3)))).toBeUndefined();
    const t = new FinalityTracker(coordinators, G);
    t.add(a);
    expect(t.add(b)).toMatchObject({ kind: 'double', conflict: a });
    // guard: a higher target and a source no lower than before
    const guard = { lastSourceHeight: 1n, lastTargetHeight: 3n };
    expect(mayVote(guard, cp('main', 1), cp('main', 3))).toBe(false);
    expect(mayVote(guard, cp('main', 0), cp('main', 9))).toBe(false);
    expect(mayVote(guard, cp('main', 2), cp('main', 4))).toBe(true);
  });

  it('casts from the highest justified checkpoint and asks for one block more to finalize transactions', () => {
    const status = { finalized: cp('main', 1), justified: cp('main', 2) };
    expect(nextVote(status, cp('main', 3), undefined)).toEqual({ source: cp('main', 2), target: cp('main', 3) });
    expect(nextVote(status, cp('main', 2), undefined)).toBeUndefined();
    expect(nextVote(status, cp('main', 3), { lastSourceHeight: 2n, lastTargetHeight: 3n })).toBeUndefined();
    expect(needsFinalizingBlock(status, cp('main', 2), 2n, 3, 3)).toBe(true);
    expect(needsFinalizingBlock(status, cp('main', 2), 1n, 3, 3)).toBe(false); // the transactions are final already
    expect(needsFinalizingBlock(status, cp('main', 3), 2n, 3, 3)).toBe(true); // not justified yet: blocks keep coming until 2 is final
    // fewer than a quorum voting: finality cannot come, so no empty blocks are made for it
    expect(needsFinalizingBlock(status, cp('main', 2), 2n, 2, 3)).toBe(false);
  });
});

describe('needsFinalizingBlock', () => {
  it('keeps asking for blocks while transactions above the final block wait, even when the head is not justified', () => {
    // votes on head 25 split between two blocks at that height: it is never justified, and no honest guard lets
    // a coordinator vote at 25 again (consensus sim seed 1 stalled here before this rule)
    const status = { finalized: cp('main', 22), justified: cp('main', 23) };
    expect(needsFinalizingBlock(status, cp('main', 25), 25n, 3, 3)).toBe(true);
    expect(needsFinalizingBlock(status, cp('main', 25), 22n, 3, 3)).toBe(false); // nothing above the final block
    expect(needsFinalizingBlock({ finalized: cp('main', 25), justified: cp('main', 26) }, cp('main', 26), 25n, 3, 3)).toBe(false);
  });

  it('counts who is voting lately', () => {
    const t = new FinalityTracker(coordinators, G);
    t.add(vote(0, cp('main', 0), cp('main', 1)));
    t.add(vote(1, cp('main', 0), cp('main', 3)));
    t.add(vote(2, cp('main', 0), cp('main', 4)));
    expect([t.votersSince(1n), t.votersSince(3n), t.votersSince(4n), t.votersSince(5n)]).toEqual([3, 2, 1, 0]);
  });
});
