/**
 * Every coordinator checks every model version (issue 13), with real nodes on loopback and real LevelDB. Genesis
 * names three coordinators: X (this test, holding its key: it signs model versions and seals blocks) and A and B (two
 * in-process nodes that keep the model chain). A accepted the updates (they are in its folder); B takes them from
 * A as soon as their contributions appear, before any version names them. Then:
 * - a block whose `model_version` records a digest its updates do not give is refused by B (BLOCK_MODEL_MISMATCH),
 *   and the same version gossiped as a transaction is dropped from A's pool and never sealed;
 * - the right version, gossiped, is sealed, and A and B both hold it with the recorded digest;
 * - a version whose update nobody can serve is not judged (503 BLOCK_MODEL_UNCHECKED, nothing changes, no one is
 *   blamed) and is taken once the update can be had.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBlock } from '../../chain/block/block.js';
import { ALC } from '../../chain/spec.js';
import { StateOverlay } from '../../chain/state/world-state.js';
import { wallet } from '../../chain/test/fixtures.js';
import type { Hash, SignedTx } from '../../chain/tx/types.js';
import { type Hex } from '../../protocol/bytes.js';
import { decodeUpdate } from '../../trainer/codec/update-codec.js';
import { applyRound, type OuterStepRecord } from '../../trainer/federated/outer-optimizer.js';
import { compressTaskUpdate } from '../../trainer/federated/task-update.js';
import { numel, paramSpecs, presetConfig } from '../../trainer/model/config.js';
import { initWeights, type Weights } from '../../trainer/model/weights.js';
import type { AiloNode } from '../node.js';
import { replicaNet, sealOnHead } from '../test/replica-net.js';
import { gossipTo, post, signedTransfer, startTestNode, waitFor } from '../test/harness.js';
import { buildManifest, GENESIS_INIT_SEED, sha256Hex } from './model-store.js';
import { pseudoRandomUpdate } from '../test/updates.js';

const MODEL = 'ailo-tiny';
const cfg = presetConfig(MODEL);
const sizes = new Map(paramSpecs(cfg).map((s) => [s.name, numel(s.shape)]));
const [X, A, B] = [wallet(601), wallet(602), wallet(603)];
const miner = wallet(610);

const makeUpdate = (seed: number): { bytes: Uint8Array; digest: Hex } => pseudoRandomUpdate(cfg, seed);

describe('coordinators recompute every model version', () => {
  const rn = replicaNet('ailo-replica', 791n, [X, A, B], miner, 1n * ALC);
  const { root, network } = rn;
  const net = rn.netFor;
  let a: AiloNode, b: AiloNode;
  const logA: string[] = [];
  const logB: string[] = [];
  const u = [makeUpdate(1), makeUpdate(2), makeUpdate(3)];
  /** A contribution to version 0's round, accepted (signed) by `by`: A, or X playing a faulty coordinator. */
  const contribution = (digest: Hex, length: number, by: typeof A = A, shard?: Hex): SignedTx =>
    rn.contribution(digest, length, by, a.chain.spec.rewards, shard);
  const modelVersion = (version: number, contributions: Hash[], digest: Hex, step: OuterStepRecord): SignedTx =>
    rn.modelVersion(version, contributions, digest, step, X);
  const latestVersion = (node: AiloNode): bigint => new StateOverlay(node.chain.state).meta().latestModelVersion;
  const onChain = (node: AiloNode, hash: Hash) =>
    waitFor(`${hash} in a block of ${node.url}`, async () => node.chain.store.txLocation(hash));

  beforeAll(async () => {
    a = await startTestNode(net(A, 'a'), join(root, 'a'), { federation: {}, log: (l) => logA.push(l) });
    b = await startTestNode(net(B, 'b'), join(root, 'b'), { federation: {}, peers: [a.url], log: (l) => logB.push(l) });
    await waitFor('B to prove A', async () => b.network.peers.urlOf(A.address));
  }, 60_000);
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('takes the updates before any version names them, refuses a version that does not recompute, takes the right one', async () => {
    // A accepted two updates; their contributions reach B, which fetches the bytes from A at once.
    a.replica!.store.putUpdate(u[0]!.digest.slice(2), u[0]!.bytes);
    a.replica!.store.putUpdate(u[1]!.digest.slice(2), u[1]!.bytes);
    const c = [contribution(u[0]!.digest, 200), contribution(u[1]!.digest, 201)];
    for (const tx of c) expect((await gossipTo(b, '/api/p2p/tx', tx.bytes, undefined)).status).toBe(202);
    for (const tx of c) await onChain(b, tx.hash);
    await waitFor(
      'B to hold both updates',
      async () => u.slice(0, 2).every((x) => b.replica!.store.hasUpdate(x.digest.slice(2))) || undefined,
    );
    const served = await fetch(`${b.url}/api/update/${u[0]!.digest}`); // from B's own folder, not forwarded
    expect(served.status).toBe(200);
    expect(served.headers.get('x-ailo-forwarded-to')).toBeNull();
    expect(sha256Hex(new Uint8Array(await served.arrayBuffer()))).toBe(u[0]!.digest.slice(2));

    const step: OuterStepRecord = { outerLrPpm: 900_000, momentumRestart: false };
    const updates = [0, 1].map((i) => ({ update: decodeUpdate(u[i]!.bytes, sizes), tokens: 200 + i }));
    const right = buildManifest(MODEL, cfg, 1, applyRound(initWeights(cfg, GENESIS_INIT_SEED), undefined, updates, step).weights).digest;
    // The wrong one: the weights of another outer lr, recorded as 0.9 (what a coordinator publishing other weights does).
    const other = { outerLrPpm: 500_000, momentumRestart: false };
    const wrong = buildManifest(MODEL, cfg, 1, applyRound(initWeights(cfg, GENESIS_INIT_SEED), undefined, updates, other).weights).digest;
    const bad = modelVersion(
      1,
      c.map((t) => t.hash),
      wrong,
      step,
    );

    const height = b.chain.height;
    const refused = await gossipTo(b, '/api/p2p/block', encodeBlock(sealOnHead(b.chain, [bad], X)), undefined);
    expect(refused.status).toBe(400);
    expect(refused.json.error.code).toBe('BLOCK_MODEL_MISMATCH');
    expect(refused.json.error.message).toMatch(/model version 1, which does not recompute: .*not the recorded/);
    expect(b.chain.height).toBe(height);
    expect(latestVersion(b)).toBe(0n);

    // Gossiped as a transaction, the same version is dropped from A's pool and never sealed.
    expect((await gossipTo(a, '/api/p2p/tx', bad.bytes, undefined)).status).toBe(202);
    await waitFor('A to drop the bad version', async () => (a.ledger.pool.get(bad.hash) ? undefined : true));
    expect(logA.join('\n')).toMatch(/refusing model version 1 .* not the recorded/);

    const good = modelVersion(
      1,
      c.map((t) => t.hash),
      right,
      step,
    );
    expect((await gossipTo(b, '/api/p2p/tx', good.bytes, undefined)).status).toBe(202);
    await onChain(b, good.hash);
    await onChain(a, good.hash);
    expect(await b.chain.store.txLocation(bad.hash)).toBeUndefined();
    expect(await a.chain.store.txLocation(bad.hash)).toBeUndefined();
    for (const node of [a, b]) expect(node.replica!.store.load(1)?.manifestDigest).toBe(right);
  }, 60_000);

  it('does not judge a version whose update nobody serves, blames no one, and takes it once the update can be had', async () => {
    const c3 = contribution(u[2]!.digest, 300);
    expect((await gossipTo(b, '/api/p2p/tx', c3.bytes, undefined)).status).toBe(202);
    await onChain(b, c3.hash);
    const v1 = b.replica!.store.load(1)!;
    const genesis = initWeights(cfg, GENESIS_INIT_SEED);
    const first = applyRound(
      genesis,
      undefined,
      [0, 1].map((i) => ({ update: decodeUpdate(u[i]!.bytes, sizes), tokens: 200 + i })),
      {
        outerLrPpm: 900_000,
        momentumRestart: false,
      },
    );
    expect(buildManifest(MODEL, cfg, 1, first.weights).digest).toBe(v1.manifestDigest);
    const step: OuterStepRecord = { outerLrPpm: 450_000, momentumRestart: false };
    const second = applyRound(first.weights, first.momentum, [{ update: decodeUpdate(u[2]!.bytes, sizes), tokens: 300 }], step);
    const mv2 = modelVersion(2, [c3.hash], buildManifest(MODEL, cfg, 2, second.weights).digest, step);

    await waitFor('B to seal no more', async () => (b.chain.needsFinalizingBlock() || b.ledger.pool.size > 0 ? undefined : true));
    const height = b.chain.height;
    // One block, offered again below (another block of X's at this height would be an equivocation).
    const block2 = encodeBlock(sealOnHead(b.chain, [mv2], X));
    const unchecked = await gossipTo(b, '/api/p2p/block', block2, undefined);
    expect(unchecked.status).toBe(503);
    expect(unchecked.json.error.code).toBe('BLOCK_MODEL_UNCHECKED');
    expect(b.chain.height).toBe(height);
    expect(b.network.peers.isBanned(A.address)).toBe(false);

    // A now holds the update (a late copy): B copies it in the background (an update no peer served is asked for
    // again after a while), and the block, offered again as a sync would, is judged and taken with version 1's momentum.
    a.replica!.store.putUpdate(u[2]!.digest.slice(2), u[2]!.bytes);
    const taken = await waitFor(
      'B to take the block once it holds the update',
      async () => {
        const r = await gossipTo(b, '/api/p2p/block', block2, undefined);
        if (r.status === 503) await new Promise((resolve) => setTimeout(resolve, 500));
        return r.status === 503 ? undefined : r;
      },
      30_000,
    );
    expect(taken.status, JSON.stringify(taken.json)).toBe(201);
    expect(latestVersion(b)).toBe(2n);
    expect(b.replica!.store.load(2)?.manifestDigest).toBe(mv2.tx.type === 'model_version' && mv2.tx.manifestDigest);
    await onChain(a, mv2.hash);
    expect(a.replica!.store.load(2)?.manifestDigest).toBe(b.replica!.store.load(2)?.manifestDigest);
  }, 60_000);

  it('holds back a version it cannot check without holding back anything else', async () => {
    const c4 = contribution(makeUpdate(4).digest, 400); // an update nobody serves
    expect((await gossipTo(b, '/api/p2p/tx', c4.bytes, undefined)).status).toBe(202);
    await onChain(b, c4.hash);
    const step: OuterStepRecord = { outerLrPpm: 900_000, momentumRestart: true };
    const mv3 = modelVersion(3, [c4.hash], `0x${'11'.repeat(32)}`, step);
    expect((await gossipTo(b, '/api/p2p/tx', mv3.bytes, undefined)).status).toBe(202);
    const transfer = await post(`${b.url}/api/ledger/transfer`, await signedTransfer(610, X.address, 1n, 0n, network));
    expect(transfer.status, JSON.stringify(transfer.json)).toBe(202);
    await onChain(b, transfer.json.hash);
    expect(b.ledger.pool.get(mv3.hash)).toBeDefined(); // still waiting for its update, not sealed
    expect(await b.chain.store.txLocation(mv3.hash)).toBeUndefined();
    await waitFor('B to say why it waits', async () => (/model version 3 not checked yet/.test(logB.join('\n')) ? true : undefined));
    expect(await b.chain.store.txLocation(mv3.hash)).toBeUndefined();
  }, 60_000);

  it("leaves out of its round what a faulty coordinator signed: an update outside a task's bounds, a copy", async () => {
    const accepted = b.federation!.roundStatus().accepted;
    const shard: Hex = `0x${b.federation!.shards.manifest.shards[0]!.sha256}`; // a shard of the corpus
    const honest = pseudoRandomUpdate(cfg, 6); // within a task's bounds
    const huge = pseudoRandomUpdate(cfg, 5, { scale: 10, maxAbs: 5 }); // values up to 5; a task allows about 0.1
    for (const x of [honest, huge]) a.replica!.store.putUpdate(x.digest.slice(2), x.bytes);
    const first = contribution(honest.digest, 500, X, shard);
    const faulty = [contribution(huge.digest, 500, X, shard), contribution(honest.digest, 500, X, shard)]; // the second: a copy
    for (const tx of [first, ...faulty]) {
      expect((await gossipTo(b, '/api/p2p/tx', tx.bytes, undefined)).status).toBe(202);
      await onChain(b, tx.hash);
    }
    await waitFor('B to take the first and leave both others out', async () => {
      const log = logB.join('\n');
      return faulty.every((tx) => log.includes(`contribution ${tx.hash} of coordinator`)) || undefined;
    });
    const log = logB.join('\n');
    expect(log).toMatch(new RegExp(`${faulty[0]!.hash} .* left out of the round: its update carries .* outside a task's bounds`));
    expect(log).toMatch(new RegExp(`${faulty[1]!.hash} .* left out of the round: an identical update`));
    expect(log).not.toContain(`contribution ${first.hash} of coordinator`);
    expect(b.federation!.roundStatus().accepted).toBe(accepted + 1);
  }, 60_000);
});
