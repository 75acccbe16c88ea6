/**
 * A faulty coordinator whose update server never answers (issue 13's outside review): it must hold up neither an
 * honest coordinator's copies of other coordinators' updates nor any block import (the block check runs under the
 * chain's lock and never waits on the network). Genesis: X (the attacker: this test holds its key and runs a fake
 * node for it that proves X's id in the handshake, never answers GET /api/update/*, and passes the rest to A), and A
 * and B (real nodes, LevelDB on disk). B's peers: A and X.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBlock } from '../../chain/block/block.js';
import { ALC } from '../../chain/spec.js';
import { wallet } from '../../chain/test/fixtures.js';
import type { ContributionTx, Hash, ModelVersionTx, SignedTx } from '../../chain/tx/types.js';
import { genesisBlock } from '../../chain/genesis-block.js';
import type { Hex } from '../../protocol/bytes.js';
import { decodeUpdate } from '../../trainer/codec/update-codec.js';
import { applyRound, type OuterStepRecord } from '../../trainer/federated/outer-optimizer.js';
import { numel, paramSpecs, presetConfig } from '../../trainer/model/config.js';
import { initWeights } from '../../trainer/model/weights.js';
import type { AiloNode } from '../node.js';
import { replicaNet, sealOnHead } from '../test/replica-net.js';
import { NodeIdentity } from '../p2p/envelope.js';
import { gossipTo as gossipOnce, post, signedTransfer, startTestNode, waitFor } from '../test/harness.js';
import { buildManifest, GENESIS_INIT_SEED } from './model-store.js';
import { pseudoRandomUpdate } from '../test/updates.js';

const MODEL = 'ailo-tiny';
const cfg = presetConfig(MODEL);
const sizes = new Map(paramSpecs(cfg).map((s) => [s.name, numel(s.shape)]));
const [X, A, B] = [wallet(601), wallet(602), wallet(603)];
const miner = wallet(610);

/** gossipTo, retried once on a keep-alive socket the server had closed (ECONNRESET), a client-side race. */
async function gossipTo(...args: Parameters<typeof gossipOnce>): ReturnType<typeof gossipOnce> {
  try {
    return await gossipOnce(...args);
  } catch (err) {
    if (!/fetch failed/.test(String(err))) throw err;
    return gossipOnce(...args);
  }
}

describe('a coordinator whose update server never answers', () => {
  const rn = replicaNet('ailo-stall', 793n, [X, A, B], miner, 10n * ALC);
  const { root, network } = rn;
  const net = rn.netFor;
  let a: AiloNode, b: AiloNode;
  let fakeX: Server;
  let xUrl = '';
  const hung: ServerResponse[] = [];
  const logB: string[] = [];
  let nonce = 0n;
  /** Update requests X's node holds unanswered (B gave up on any it closed). */
  const open = (): string[] => hung.filter((r) => !r.destroyed && !r.writableEnded).map((r) => r.req.url!);
  const contribution = (digest: Hex, length: number, by: typeof A): SignedTx => rn.contribution(digest, length, by, a.chain.spec.rewards);
  const modelVersion = (version: number, contributions: Hash[], digest: Hex, step: OuterStepRecord, by: typeof A = X): SignedTx =>
    rn.modelVersion(version, contributions, digest, step, by);
  /** Version 1 as the first test publishes it: the parent of the third test's version. */
  let v1: ReturnType<typeof applyRound>;
  const onChain = (node: AiloNode, hash: Hash, ms = 20_000) =>
    waitFor(`${hash} in a block of ${node.url}`, async () => node.chain.store.txLocation(hash), ms);

  /** A transfer sent to B, sealed. */
  async function transfer(): Promise<void> {
    const r = await post(`${b.url}/api/ledger/transfer`, await signedTransfer(610, X.address, 1n, nonce++, network));
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    await onChain(b, r.json.hash);
  }

  beforeAll(async () => {
    a = await startTestNode(net(A, 'a'), join(root, 'a'), { federation: {} });
    // X's fake node: proves X's id in the handshake, hangs on /api/update/*, passes everything else to A.
    const domain = genesisBlock(a.chain.spec).block.hash;
    let identity: NodeIdentity;
    fakeX = createServer(async (req: IncomingMessage, res: ServerResponse) => {
      const u = new URL(req.url!, xUrl);
      if (u.pathname === '/api/p2p/hello') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(identity.hello(u.searchParams.get('nonce') as Hex)));
        return;
      }
      if (u.pathname.startsWith('/api/update/')) {
        hung.push(res); // never answered
        return;
      }
      if (u.pathname.startsWith('/api/p2p/')) {
        req.resume();
        res.statusCode = 200;
        res.setHeader('content-type', 'application/json');
        res.end('{"status":"known"}');
        return;
      }
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (typeof v === 'string' && !k.startsWith('x-ailo') && k !== 'host' && k !== 'connection') headers[k] = v;
      try {
        const r = await fetch(a.url + req.url, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
        res.statusCode = r.status;
        for (const h of ['content-type']) if (r.headers.get(h)) res.setHeader(h, r.headers.get(h)!);
        res.end(Buffer.from(await r.arrayBuffer()));
      } catch {
        res.statusCode = 502;
        res.end();
      }
    });
    await new Promise<void>((r) => fakeX.listen(0, '127.0.0.1', () => r()));
    xUrl = `http://127.0.0.1:${(fakeX.address() as AddressInfo).port}`;
    identity = new NodeIdentity(X.key, xUrl, domain);
    b = await startTestNode(net(B, 'b'), join(root, 'b'), { federation: {}, peers: [a.url, xUrl], log: (l) => logB.push(l) });
    await waitFor('B to prove A and X', async () => (b.network.peers.urlOf(A.address) && b.network.peers.urlOf(X.address)) || undefined);
  }, 60_000);
  afterAll(async () => {
    for (const r of hung) r.destroy();
    fakeX?.closeAllConnections();
    fakeX?.close();
    await b?.stop();
    await a?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it("copies honest updates and imports an honest version while X's node holds its fetches open", async () => {
    const step: OuterStepRecord = { outerLrPpm: 900_000, momentumRestart: false };
    // X signs four contributions whose updates its node never serves; then A accepts an honest one.
    const junk = [11, 12, 13, 14].map((s) => contribution(pseudoRandomUpdate(cfg, s).digest, 100, X));
    for (const tx of junk) expect((await gossipTo(b, '/api/p2p/tx', tx.bytes, undefined)).status).toBe(202);
    await waitFor("B to ask X's node for its updates", async () => (open().length > 0 ? true : undefined));
    const u1 = pseudoRandomUpdate(cfg, 1);
    a.replica!.store.putUpdate(u1.digest.slice(2), u1.bytes);
    const c1 = contribution(u1.digest, 200, A);
    expect((await gossipTo(b, '/api/p2p/tx', c1.bytes, undefined)).status).toBe(202);
    // A's update is copied while X's fetches hang (each signer's fetches queue on their own).
    await waitFor('B to copy the honest update', async () => b.replica!.store.hasUpdate(u1.digest.slice(2)) || undefined);
    expect(open().length).toBeGreaterThan(0);
    await onChain(b, c1.hash);
    for (const tx of junk) await onChain(b, tx.hash);
    v1 = applyRound(initWeights(cfg, GENESIS_INIT_SEED), undefined, [{ update: decodeUpdate(u1.bytes, sizes), tokens: 200 }], step);
    const mv1 = modelVersion(1, [c1.hash], buildManifest(MODEL, cfg, 1, v1.weights).digest, step);
    const r = await gossipTo(b, '/api/p2p/block', encodeBlock(sealOnHead(b.chain, [mv1], X)), undefined);
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    await transfer();
    expect(open().length).toBeGreaterThan(0); // all of it while X's node still holds B's requests
  }, 60_000);

  it('answers a block naming an update nobody serves at once (unchecked, nobody blamed), and seals the rest meanwhile', async () => {
    const cj = contribution(pseudoRandomUpdate(cfg, 99).digest, 100, X);
    const mv2 = modelVersion(2, [cj.hash], `0x${'11'.repeat(32)}`, { outerLrPpm: 900_000, momentumRestart: true });
    const digest = (cj.tx as ContributionTx).gradientDigest;
    for (let i = 0; i < 2; i++) {
      await waitFor('B quiet', async () => (b.ledger.pool.size === 0 ? true : undefined));
      const height = b.chain.height;
      const r = await gossipTo(b, '/api/p2p/block', encodeBlock(sealOnHead(b.chain, [cj, mv2], X)), undefined);
      expect(r.status, JSON.stringify(r.json)).toBe(503);
      expect(r.json.error.code).toBe('BLOCK_MODEL_UNCHECKED');
      expect(b.chain.height).toBe(height);
      // Answered without waiting on the fetch: no request for that update reached X's node that B then gave up on.
      expect(hung.filter((res) => res.req.url!.includes(digest.slice(2)) && res.destroyed)).toEqual([]);
      await transfer();
    }
    expect(b.network.peers.isBanned(X.address)).toBe(false);
    expect(b.network.peers.isBanned(A.address)).toBe(false);
  }, 60_000);

  it("checks an honest version naming X's contributions from the version's signer, without waiting on X's node", async () => {
    // X signs four contributions; its node serves B nothing, but A (the runner, which aggregated them) holds them all.
    const us = [21, 22, 23, 24].map((seed) => pseudoRandomUpdate(cfg, seed));
    for (const u of us) a.replica!.store.putUpdate(u.digest.slice(2), u.bytes);
    const cs = us.map((u, i) => contribution(u.digest, 100 + i, X));
    for (const tx of cs) expect((await gossipTo(b, '/api/p2p/tx', tx.bytes, undefined)).status).toBe(202);
    for (const tx of cs) await onChain(b, tx.hash);
    await waitFor("B to ask X's node for them", async () => (open().length > 0 ? true : undefined));
    const step: OuterStepRecord = { outerLrPpm: 600_000, momentumRestart: false };
    const v2 = applyRound(
      v1.weights,
      v1.momentum,
      us.map((u, i) => ({ update: decodeUpdate(u.bytes, sizes), tokens: 100 + i })),
      step,
    );
    const mv2 = modelVersion(
      2,
      cs.map((c) => c.hash),
      buildManifest(MODEL, cfg, 2, v2.weights).digest,
      step,
      A,
    );
    expect((await gossipTo(b, '/api/p2p/tx', mv2.bytes, undefined)).status).toBe(202);
    await onChain(b, mv2.hash);
    expect(b.replica!.store.load(2)?.manifestDigest).toBe((mv2.tx as ModelVersionTx).manifestDigest);
    expect(open().length).toBeGreaterThan(0); // X's node still holds B's requests
  }, 60_000);
});
