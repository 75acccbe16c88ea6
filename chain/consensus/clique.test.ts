import { afterEach, describe, expect, it } from 'vitest';
import type { Address } from '../../protocol/address.js';
import { sealBlock, type BlockHeader } from '../block/block.js';
import type { Chain } from '../chain.js';
import { BlockErrorCode } from '../errors.js';
import { nextTimestamp, openTestChain, tempDir, testSpec, wallet, type Wallet } from '../test/fixtures.js';
import {
  blockWeight,
  checkClique,
  earliestTimestamp,
  inTurnProposer,
  isInTurn,
  mayPropose,
  preferTip,
  recentWindow,
  signerLimit,
} from './clique.js';

const four = [wallet(11), wallet(12), wallet(13), wallet(14)];
const three = four.slice(0, 3);
const spec3 = testSpec(three.map((w) => w.address));
const spec4 = testSpec(four.map((w) => w.address));
const outsider = wallet(99);

function header(height: bigint, proposer: Address, timestamp: bigint): BlockHeader {
  const zero = ('0x' + '00'.repeat(32)) as `0x${string}`;
  return { chainId: 31337n, height, parentHash: zero, timestamp, proposer, txRoot: zero, stateRoot: zero };
}

describe('Clique rules (pure)', () => {
  it('rotates the in-turn proposer by height', () => {
    for (const spec of [spec3, spec4]) {
      const n = spec.coordinators.length;
      for (let h = 0n; h < 3n * BigInt(n); h++) {
        const expected = spec.coordinators[Number(h) % n]!;
        expect(inTurnProposer(spec, h)).toBe(expected);
        expect(isInTurn(spec, h, expected)).toBe(true);
        for (const other of spec.coordinators.filter((c) => c !== expected)) expect(isInTurn(spec, h, other)).toBe(false);
      }
    }
  });

  it('limits a signer to one of floor(N/2)+1 consecutive blocks', () => {
    expect(signerLimit(spec3)).toBe(2);
    expect(signerLimit(spec4)).toBe(3);
    expect(signerLimit(testSpec([four[0]!.address]))).toBe(1);
    expect(signerLimit(testSpec(Array.from({ length: 7 }, (_, i) => wallet(30 + i).address)))).toBe(4);
    expect(recentWindow(spec4)).toBe(2);
    const [a, b, c, d] = spec4.coordinators as [Address, Address, Address, Address];
    const parent = header(4n, a, 10_000n);
    const late = 1_000_000n;
    // recent proposers newest first: parent by a, grandparent by d, then c
    const recent = [a, d, c];
    expect(checkClique(spec4, parent, header(5n, a, late), recent)?.code).toBe('SIGNED_RECENTLY');
    expect(checkClique(spec4, parent, header(5n, d, late), recent)?.code).toBe('SIGNED_RECENTLY');
    expect(checkClique(spec4, parent, header(5n, c, late), recent)).toBeUndefined();
    expect(checkClique(spec4, parent, header(5n, b, late), recent)).toBeUndefined();
    expect(mayPropose(spec4, parent, d, recent, late)).toBe(false);
    expect(mayPropose(spec4, parent, c, recent, late)).toBe(true);
    expect(mayPropose(spec4, parent, outsider.address, recent, late)).toBe(false);
  });

  it('needs a period after the parent, and an out-of-turn proposer the extra delay too', () => {
    const [a, b, c] = spec3.coordinators as [Address, Address, Address];
    const parent = header(2n, c, 50_000n);
    const inTurn = inTurnProposer(spec3, 3n);
    expect(inTurn).toBe(a);
    const period = BigInt(spec3.blockPeriodMs);
    const delay = BigInt(spec3.outOfTurnDelayMs);
    expect(earliestTimestamp(spec3, parent, a)).toBe(50_000n + period);
    expect(earliestTimestamp(spec3, parent, b)).toBe(50_000n + period + delay);
    expect(checkClique(spec3, parent, header(3n, a, 50_000n + period - 1n), [c])?.code).toBe('BAD_TIMESTAMP');
    expect(checkClique(spec3, parent, header(3n, a, 50_000n + period), [c])).toBeUndefined();
    expect(checkClique(spec3, parent, header(3n, b, 50_000n + period), [c])?.code).toBe('BAD_TIMESTAMP');
    expect(checkClique(spec3, parent, header(3n, b, 50_000n + period + delay - 1n), [c])?.code).toBe('BAD_TIMESTAMP');
    expect(checkClique(spec3, parent, header(3n, b, 50_000n + period + delay), [c])).toBeUndefined();
    expect(mayPropose(spec3, parent, b, [c], 50_000n + period)).toBe(false);
    expect(mayPropose(spec3, parent, b, [c], 50_000n + period + delay)).toBe(true);
  });

  it('refuses a proposer outside the coordinator set', () => {
    const parent = header(0n, three[0]!.address, 0n);
    expect(checkClique(spec3, parent, header(1n, outsider.address, 1n << 40n), [])?.code).toBe('NOT_AUTHORIZED');
  });

  it('weighs in-turn blocks 2 and out-of-turn 1; prefers the higher justified checkpoint, then the heavier tip, then the lower hash', () => {
    const [a, b] = spec3.coordinators as [Address, Address];
    expect(blockWeight(spec3, { height: 3n, proposer: a })).toBe(2n);
    expect(blockWeight(spec3, { height: 3n, proposer: b })).toBe(1n);
    const low = { hash: ('0x' + '0a'.repeat(32)) as `0x${string}`, totalWeight: 5n, justifiedHeight: 1n };
    const high = { hash: ('0x' + 'f0'.repeat(32)) as `0x${string}`, totalWeight: 6n, justifiedHeight: 1n };
    expect(preferTip(low, high)).toBe(high);
    expect(preferTip(high, low)).toBe(high);
    const tie = { ...high, totalWeight: 5n };
    expect(preferTip(low, tie)).toBe(low);
    expect(preferTip(tie, low)).toBe(low);
    const upper = { hash: ('0x' + '0A'.repeat(31) + '0b') as `0x${string}`, totalWeight: 5n, justifiedHeight: 1n };
    expect(preferTip(upper, low)).toBe(low);
    // a lighter chain holding a higher justified checkpoint wins (FFG's fork choice)
    const justifiedLight = { ...low, totalWeight: 1n, justifiedHeight: 2n };
    expect(preferTip(high, justifiedLight)).toBe(justifiedLight);
    expect(preferTip(justifiedLight, high)).toBe(justifiedLight);
  });
});

describe('Clique through Chain', () => {
  const dirs: (() => void)[] = [];
  const chains: Chain[] = [];
  afterEach(async () => {
    for (const c of chains.splice(0)) await c.store.close();
    dirs.splice(0).forEach((rm) => rm());
  });
  const open = async (spec = spec3, dir?: string): Promise<Chain> => {
    let d = dir;
    if (!d) {
      const t = tempDir();
      dirs.push(t.remove);
      d = t.dir;
    }
    const chain = await openTestChain(spec, d);
    chains.push(chain);
    return chain;
  };
  const inTurn = (chain: Chain): Wallet => four.find((w) => w.address === inTurnProposer(chain.spec, chain.height + 1n))!;
  const build = (chain: Chain, who: Wallet, timestamp = nextTimestamp(chain)) => chain.buildBlock([], who.key, who.address, timestamp);
  const outOfTurnTime = (chain: Chain): bigint => nextTimestamp(chain) + BigInt(chain.spec.outOfTurnDelayMs);

  it('builds a multi-block chain with three rotating coordinators that a follower imports', async () => {
    const leader = await open();
    for (let i = 0; i < 9; i++) {
      const who = inTurn(leader);
      const { block } = await build(leader, who);
      expect(block.header.proposer).toBe(three[(i + 1) % 3]!.address);
    }
    expect(leader.height).toBe(9n);
    expect(leader.totalWeight).toBe(18n);
    const follower = await open();
    const blocks = await Promise.all(Array.from({ length: 9 }, (_, i) => leader.blockByHeight(BigInt(i + 1))));
    await follower.importBlocks(blocks.map((b) => b!));
    expect(follower.head.hash).toBe(leader.head.hash);
    expect(follower.totalWeight).toBe(18n);
  });

  it('lets an out-of-turn coordinator seal only after the extra delay, at weight 1', async () => {
    const chain = await open();
    await build(chain, inTurn(chain)); // height 1 by three[1]
    // height 2: in turn three[2]; three[0] is out of turn and did not sign recently
    const early = build(chain, three[0]!);
    await expect(early).rejects.toMatchObject({ code: BlockErrorCode.BAD_TIMESTAMP });
    await expect(build(chain, three[0]!, outOfTurnTime(chain) - 1n)).rejects.toMatchObject({ code: BlockErrorCode.BAD_TIMESTAMP });
    expect(chain.height).toBe(1n);
    const { block } = await build(chain, three[0]!, outOfTurnTime(chain));
    expect(block.header.height).toBe(2n);
    expect(chain.totalWeight).toBe(3n);

    // a follower refuses the same out-of-turn block re-sealed too early
    const follower = await open();
    await follower.importBlock((await chain.blockByHeight(1n))!);
    const tooEarly = sealBlock({ ...block.header, timestamp: block.header.timestamp - 1n }, [], three[0]!.key);
    await expect(follower.importBlock(tooEarly)).rejects.toMatchObject({ code: BlockErrorCode.BAD_TIMESTAMP });
    await follower.importBlock(block);
    expect(follower.head.hash).toBe(block.hash);
  });

  it('refuses a coordinator signing again within floor(N/2)+1 blocks (N=3 and N=4), also after a reopen', async () => {
    const t = tempDir();
    dirs.push(t.remove);
    const chain = await open(spec4, t.dir);
    const [a, b, c, d] = four as [Wallet, Wallet, Wallet, Wallet];
    await build(chain, b); // height 1, in turn
    await build(chain, c); // height 2, in turn
    // height 3: c and b are within the window of 2
    await expect(build(chain, c, outOfTurnTime(chain))).rejects.toMatchObject({ code: BlockErrorCode.SIGNED_RECENTLY });
    await expect(build(chain, b, outOfTurnTime(chain))).rejects.toMatchObject({ code: BlockErrorCode.SIGNED_RECENTLY });
    await build(chain, a, outOfTurnTime(chain)); // out of turn, allowed
    await chain.store.close();
    chains.splice(chains.indexOf(chain), 1);

    const reopened = await open(spec4, t.dir);
    expect(reopened.height).toBe(3n);
    expect(reopened.totalWeight).toBe(5n);
    // height 4: in turn a, but a signed height 3; c signed height 2
    await expect(build(reopened, a, outOfTurnTime(reopened))).rejects.toMatchObject({ code: BlockErrorCode.SIGNED_RECENTLY });
    await expect(build(reopened, c, outOfTurnTime(reopened))).rejects.toMatchObject({ code: BlockErrorCode.SIGNED_RECENTLY });
    await build(reopened, d, outOfTurnTime(reopened));
    await build(reopened, b, nextTimestamp(reopened)); // height 5 in turn b: b last signed height 1

    const small = await open(spec3);
    await build(small, three[1]!);
    await expect(build(small, three[1]!, outOfTurnTime(small))).rejects.toMatchObject({ code: BlockErrorCode.SIGNED_RECENTLY });
    await build(small, three[0]!, outOfTurnTime(small));
  });

  it('refuses blocks by a non-coordinator, sealed here or imported', async () => {
    const chain = await open();
    await expect(build(chain, outsider, 1n << 50n)).rejects.toMatchObject({ code: BlockErrorCode.NOT_AUTHORIZED });
    const other = await open();
    const { block } = await build(other, inTurn(other));
    const forged = sealBlock({ ...block.header, proposer: outsider.address }, [], outsider.key);
    await expect(chain.importBlock(forged)).rejects.toMatchObject({ code: BlockErrorCode.NOT_AUTHORIZED });
    // sealed by a coordinator but naming another as proposer
    const misnamed = sealBlock({ ...block.header, proposer: three[2]!.address }, [], three[1]!.key);
    await expect(chain.importBlock(misnamed)).rejects.toMatchObject({ code: BlockErrorCode.BAD_SIGNATURE });
    expect(chain.height).toBe(0n);
  });

  it('fork choice prefers the in-turn fork over an out-of-turn one of the same length', async () => {
    const honest = await open();
    const late = await open();
    for (let i = 0; i < 4; i++) {
      await build(honest, inTurn(honest));
      // the other fork: whoever may seal out of turn (not in turn, not the parent's proposer)
      const turn = inTurnProposer(late.spec, late.height + 1n);
      const who = three.find((w) => w.address !== turn && w.address !== late.recent[0])!;
      await build(late, who, outOfTurnTime(late));
    }
    expect(honest.totalWeight).toBe(8n);
    expect(late.totalWeight).toBe(4n);
    const a = { hash: honest.head.hash, totalWeight: honest.totalWeight, justifiedHeight: 0n };
    const b = { hash: late.head.hash, totalWeight: late.totalWeight, justifiedHeight: 0n };
    expect(preferTip(a, b)).toBe(a);
    expect(preferTip(b, a)).toBe(a);
  });
});
