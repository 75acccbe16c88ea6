import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../../protocol/bytes.js';
import { keccak256 } from '../../protocol/keccak.js';
import { BlockErrorCode, TxError, TxErrorCode } from '../errors.js';
import { genesisBlock, networkDomain } from '../genesis-block.js';
import { ALC } from '../spec.js';
import { nextTimestamp, openTestChain, tempDir, testSpec, transfer, wallet } from '../test/fixtures.js';
import { signTx } from '../tx/sign.js';
import type { Hash, SignedTx } from '../tx/types.js';
import { applyTx, MAX_OUTER_LR_PPM } from './transition.js';
import { StateOverlay, WorldState } from './world-state.js';

const coordinator = wallet(1);
const alice = wallet(2);
const bob = wallet(3);
const miner = wallet(4);
const outsider = wallet(99);
const spec = testSpec([coordinator.address], [[alice.address, 10n * ALC]]);
const GENESIS_SUPPLY = 10n * ALC;
const BASE = spec.rewards.contributionBase;
const SHARE = spec.rewards.inferenceShare;

const id = (label: string | number): Hash => toHex(keccak256(new TextEncoder().encode(String(label))));

function genesisState(): StateOverlay {
  const world = new WorldState();
  world.apply(genesisBlock(spec).stateChanges);
  return new StateOverlay(world);
}

function contribution(
  o: { task?: string; quality?: number; reward?: bigint; modelVersion?: bigint; length?: bigint; by?: typeof coordinator } = {},
): SignedTx {
  const quality = o.quality ?? 2000;
  const by = o.by ?? coordinator;
  return signTx(
    {
      type: 'contribution',
      coordinator: by.address,
      miner: miner.address,
      taskId: id(o.task ?? 'task'),
      modelVersion: o.modelVersion ?? 0n,
      shard: id('shard'),
      offset: 0n,
      length: o.length ?? 512n,
      gradientDigest: id(`grad-${o.task ?? 'task'}`),
      quality,
      reward: o.reward ?? (BASE * BigInt(quality)) / 1000n,
    },
    by.key,
    networkDomain(spec),
  );
}

function modelVersion(
  version: bigint,
  contributions: Hash[],
  o: { parent?: bigint; by?: typeof coordinator; outerLrPpm?: number; momentumRestart?: boolean } = {},
): SignedTx {
  const by = o.by ?? coordinator;
  return signTx(
    {
      type: 'model_version',
      coordinator: by.address,
      version,
      parentVersion: o.parent ?? version - 1n,
      manifestDigest: id(`manifest-${version}`),
      contributions,
      outerLrPpm: o.outerLrPpm ?? (contributions.length > 0 ? 900_000 : 0),
      momentumRestart: o.momentumRestart ?? contributions.length === 0,
    },
    by.key,
    networkDomain(spec),
  );
}

function inference(
  request: string,
  shares: bigint,
  o: { reward?: bigint; by?: typeof coordinator; node?: typeof bob; span?: [number, number] } = {},
): SignedTx {
  const by = o.by ?? coordinator;
  const [spanStart, spanEnd] = o.span ?? [0, 4];
  return signTx(
    {
      type: 'inference_reward',
      coordinator: by.address,
      node: (o.node ?? bob).address,
      requestId: id(request),
      spanStart,
      spanEnd,
      shares,
      reward: o.reward ?? shares * SHARE,
    },
    by.key,
    networkDomain(spec),
  );
}

/** Applies and expects a TxError with `code`, checking the state is left exactly as it was. */
function rejects(state: StateOverlay, tx: SignedTx, code: TxErrorCode): void {
  const before = new Map([...state.changes].map(([k, c]) => [k, c.value && toHex(c.value)]));
  let thrown: unknown;
  try {
    applyTx(state, tx, spec);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(TxError);
  expect((thrown as TxError).code).toBe(code);
  expect(new Map([...state.changes].map(([k, c]) => [k, c.value && toHex(c.value)]))).toEqual(before);
}

describe('contribution', () => {
  it('pays exactly base * quality / 1000 for any quality in bounds, and nothing else', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: spec.rewards.minQuality, max: spec.rewards.maxQuality }),
        fc.bigInt(1n, ALC),
        fc.boolean(),
        (quality, delta, up) => {
          const state = genesisState();
          const expected = (BASE * BigInt(quality)) / 1000n;
          rejects(
            state,
            contribution({ quality, reward: up || delta > expected ? expected + delta : expected - delta }),
            TxErrorCode.BAD_REWARD,
          );
          applyTx(state, contribution({ quality }), spec);
          expect(state.account(miner.address).balance).toBe(expected);
          expect(state.meta().totalSupply).toBe(GENESIS_SUPPLY + expected);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('keeps quality within 1x..10x', () => {
    const state = genesisState();
    rejects(state, contribution({ task: 'a', quality: 999 }), TxErrorCode.BAD_REWARD);
    rejects(state, contribution({ task: 'a', quality: 10_001 }), TxErrorCode.BAD_REWARD);
    rejects(state, contribution({ task: 'a', quality: 0, reward: 0n }), TxErrorCode.BAD_REWARD);
    applyTx(state, contribution({ task: 'a', quality: 1000 }), spec);
    applyTx(state, contribution({ task: 'b', quality: 10_000 }), spec);
    expect(state.account(miner.address).balance).toBe(BASE + 10n * BASE);
  });

  it('pays a task once, needs a published model version and at least one token, and a coordinator', () => {
    const state = genesisState();
    const first = contribution({ task: 'x' });
    applyTx(state, first, spec);
    expect(state.contribution(first.hash)).toEqual({ taskId: id('x'), miner: miner.address, modelVersion: 0n, aggregatedIn: 0n });
    rejects(state, contribution({ task: 'x', quality: 3000 }), TxErrorCode.DUPLICATE);
    rejects(state, contribution({ task: 'y', modelVersion: 1n }), TxErrorCode.BAD_MODEL_VERSION);
    rejects(state, contribution({ task: 'y', length: 0n }), TxErrorCode.MALFORMED);
    rejects(state, contribution({ task: 'y', by: outsider }), TxErrorCode.NOT_COORDINATOR);
    applyTx(state, modelVersion(1n, []), spec);
    applyTx(state, contribution({ task: 'y', modelVersion: 1n }), spec);
  });
});

describe('model_version', () => {
  it('must follow the latest version exactly', () => {
    const state = genesisState();
    rejects(state, modelVersion(2n, []), TxErrorCode.BAD_MODEL_VERSION);
    rejects(state, modelVersion(1n, [], { parent: 1n }), TxErrorCode.BAD_MODEL_VERSION);
    rejects(state, modelVersion(0n, [], { parent: 0n }), TxErrorCode.BAD_MODEL_VERSION);
    rejects(state, modelVersion(1n, [], { by: outsider }), TxErrorCode.NOT_COORDINATOR);
    const v1 = modelVersion(1n, []);
    applyTx(state, v1, spec);
    expect(state.meta().latestModelVersion).toBe(1n);
    expect(state.modelVersion(1n)).toEqual({ txHash: v1.hash, manifestDigest: id('manifest-1'), parentVersion: 0n });
    rejects(state, modelVersion(1n, [], { parent: 0n }), TxErrorCode.BAD_MODEL_VERSION);
  });

  it('aggregates existing contributions once, never the same one twice, and mints nothing', () => {
    const state = genesisState();
    const c1 = contribution({ task: '1' });
    const c2 = contribution({ task: '2' });
    applyTx(state, c1, spec);
    applyTx(state, c2, spec);
    const supply = state.meta().totalSupply;
    rejects(state, modelVersion(1n, [c1.hash, id('nope')]), TxErrorCode.UNKNOWN_CONTRIBUTION);
    rejects(state, modelVersion(1n, [c1.hash, c2.hash, c1.hash]), TxErrorCode.DUPLICATE);
    applyTx(state, modelVersion(1n, [c1.hash]), spec);
    expect(state.contribution(c1.hash)?.aggregatedIn).toBe(1n);
    expect(state.contribution(c2.hash)?.aggregatedIn).toBe(0n);
    rejects(state, modelVersion(2n, [c1.hash]), TxErrorCode.DUPLICATE);
    applyTx(state, modelVersion(2n, [c2.hash]), spec);
    expect(state.meta().totalSupply).toBe(supply);
  });

  it('records an outer step anyone can recompute: a real step needs contributions, lr 0 keeps the parent and resets the momentum', () => {
    const state = genesisState();
    const c1 = contribution({ task: '1' });
    applyTx(state, c1, spec);
    rejects(state, modelVersion(1n, [], { outerLrPpm: 900_000 }), TxErrorCode.BAD_MODEL_VERSION);
    rejects(state, modelVersion(1n, [c1.hash], { outerLrPpm: 0, momentumRestart: false }), TxErrorCode.BAD_MODEL_VERSION);
    rejects(state, modelVersion(1n, [c1.hash], { outerLrPpm: MAX_OUTER_LR_PPM + 1 }), TxErrorCode.BAD_MODEL_VERSION);
    applyTx(state, modelVersion(1n, [c1.hash], { outerLrPpm: 0, momentumRestart: true }), spec);
    expect(state.contribution(c1.hash)?.aggregatedIn).toBe(1n);
  });

  it('takes a contribution only within maxStaleness versions of its parent', () => {
    const staleness = spec.rewards.maxStaleness;
    const state = genesisState();
    const old = contribution({ task: 'old' });
    applyTx(state, old, spec);
    for (let v = 1n; v <= staleness; v++) applyTx(state, modelVersion(v, []), spec);
    // parent = staleness, contribution trained on 0: exactly at the limit
    const branch = new StateOverlay(state);
    applyTx(branch, modelVersion(staleness + 1n, [old.hash]), spec);
    expect(branch.contribution(old.hash)?.aggregatedIn).toBe(staleness + 1n);
    // one version later it is too stale
    applyTx(state, modelVersion(staleness + 1n, []), spec);
    rejects(state, modelVersion(staleness + 2n, [old.hash]), TxErrorCode.BAD_MODEL_VERSION);
  });
});

describe('inference_reward', () => {
  it('pays shares * inferenceShare, refusing a wrong reward, no shares or a signer that is no coordinator', () => {
    const state = genesisState();
    rejects(state, inference('r1', 3n, { reward: 3n * SHARE + 1n }), TxErrorCode.BAD_REWARD);
    rejects(state, inference('r1', 3n, { reward: 2n * SHARE }), TxErrorCode.BAD_REWARD);
    rejects(state, inference('r1', 0n, { reward: 0n }), TxErrorCode.BAD_REWARD);
    rejects(state, inference('r1', 3n, { by: outsider }), TxErrorCode.NOT_COORDINATOR);
    applyTx(state, inference('r1', 3n), spec);
    applyTx(state, inference('r2', 1n), spec);
    expect(state.account(bob.address).balance).toBe(4n * SHARE);
    expect(state.meta().totalSupply).toBe(GENESIS_SUPPLY + 4n * SHARE);
  });

  it('pays each contributor of one request once: a second reward to the same node is refused and changes nothing', () => {
    const state = genesisState();
    applyTx(state, inference('r1', 2n, { node: bob, span: [0, 8] }), spec);
    applyTx(state, inference('r1', 3n, { node: miner, span: [8, 16] }), spec);
    applyTx(state, inference('r1', 1n, { node: alice, span: [16, 24] }), spec);
    expect(state.account(bob.address).balance).toBe(2n * SHARE);
    expect(state.account(miner.address).balance).toBe(3n * SHARE);
    expect(state.account(alice.address).balance).toBe(10n * ALC + SHARE);
    // the same node again, for another span of the same request or the same one
    rejects(state, inference('r1', 2n, { node: bob, span: [8, 16] }), TxErrorCode.DUPLICATE);
    rejects(state, inference('r1', 2n, { node: bob, span: [0, 8] }), TxErrorCode.DUPLICATE);
    expect(() => applyTx(state, inference('r1', 1n, { node: miner }), spec)).toThrow(
      `request ${id('r1')} already rewarded node ${miner.address}`,
    );
    expect(state.meta().totalSupply).toBe(GENESIS_SUPPLY + 6n * SHARE);
    // another request pays the same node again
    applyTx(state, inference('r2', 1n, { node: bob, span: [0, 8] }), spec);
    expect(state.account(bob.address).balance).toBe(3n * SHARE);
  });

  it('refuses a span that holds no layer (spanStart >= spanEnd)', () => {
    const state = genesisState();
    rejects(state, inference('r1', 1n, { span: [4, 4] }), TxErrorCode.BAD_REWARD);
    rejects(state, inference('r1', 1n, { span: [5, 4] }), TxErrorCode.BAD_REWARD);
    expect(() => applyTx(state, inference('r1', 1n, { span: [9, 2] }), spec)).toThrow(/span \[9, 2\) holds no layer/);
    applyTx(state, inference('r1', 1n, { span: [3, 4] }), spec);
    expect(state.account(bob.address).balance).toBe(SHARE);
  });
});

describe('transfer', () => {
  it('moves value without minting; self-transfers only bump the nonce; zero amounts are refused', () => {
    const state = genesisState();
    rejects(state, transfer(alice, bob.address, 0n, 0n, spec), TxErrorCode.BAD_AMOUNT);
    applyTx(state, transfer(alice, alice.address, 3n * ALC, 0n, spec), spec);
    expect(state.account(alice.address)).toEqual({ balance: 10n * ALC, nonce: 1n });
    applyTx(state, transfer(alice, bob.address, 10n * ALC, 1n, spec), spec);
    expect(state.account(alice.address)).toEqual({ balance: 0n, nonce: 2n });
    rejects(state, transfer(alice, bob.address, 1n, 2n, spec), TxErrorCode.INSUFFICIENT_BALANCE);
    expect(state.meta().totalSupply).toBe(GENESIS_SUPPLY);
  });
});

describe('state transition through Chain', () => {
  const dirs: (() => void)[] = [];
  afterEach(() => dirs.splice(0).forEach((rm) => rm()));
  const fresh = () => {
    const t = tempDir();
    dirs.push(t.remove);
    return t.dir;
  };

  it('seals rewards into blocks a follower re-verifies, growing the supply by what was minted', async () => {
    const chain = await openTestChain(spec, fresh());
    const follower = await openTestChain(spec, fresh());
    const c1 = contribution({ task: 't1', quality: 2500 });
    const c2 = contribution({ task: 't2', quality: 1000 });
    const dup = contribution({ task: 't1', quality: 1000 });
    const { block: b1, rejected } = await chain.buildBlock(
      [c1, c2, dup, inference('q', 2n)],
      coordinator.key,
      coordinator.address,
      nextTimestamp(chain),
    );
    expect(b1.txs.map((t) => t.hash)).toEqual([c1.hash, c2.hash, b1.txs[2]!.hash]);
    expect(rejected.map((r) => [r.tx.hash, r.error.code])).toEqual([[dup.hash, TxErrorCode.DUPLICATE]]);
    const { block: b2 } = await chain.buildBlock(
      [modelVersion(1n, [c1.hash, c2.hash]), transfer(alice, bob.address, ALC, 0n, spec)],
      coordinator.key,
      coordinator.address,
      nextTimestamp(chain),
    );
    expect(b2.txs).toHaveLength(2);
    const minted = (BASE * 2500n) / 1000n + BASE + 2n * SHARE;
    expect(chain.view().meta()).toEqual({ latestModelVersion: 1n, totalSupply: GENESIS_SUPPLY + minted });
    expect(chain.account(miner.address).balance).toBe((BASE * 2500n) / 1000n + BASE);

    await follower.importBlocks([b1, b2]);
    expect(follower.head.hash).toBe(chain.head.hash);
    expect(follower.view().meta()).toEqual(chain.view().meta());
    await chain.store.close();
    await follower.store.close();
  });

  it('refuses a block carrying a coordinator transaction signed by someone else', async () => {
    const chain = await openTestChain(spec, fresh());
    const source = await openTestChain(spec, fresh());
    const forged = signTx(
      {
        type: 'inference_reward',
        coordinator: coordinator.address,
        node: outsider.address,
        requestId: id('f'),
        spanStart: 0,
        spanEnd: 4,
        shares: 1n,
        reward: SHARE,
      },
      outsider.key,
      networkDomain(spec),
    );
    const { block } = await source.buildBlock([forged], coordinator.key, coordinator.address, nextTimestamp(source));
    await expect(chain.importBlock(block)).rejects.toMatchObject({ code: BlockErrorCode.INVALID_TX });
    expect(chain.account(outsider.address).balance).toBe(0n);
    await chain.store.close();
    await source.store.close();
  });
});
