/**
 * A new model version that differs from the last in one tensor: ailo-miner's disk cache downloads exactly the
 * chunk(s) that changed, counted on the node itself, and ends up with the new version's weights.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toChecksumAddress } from '../../protocol/address.js';
import { wallet } from '../../chain/test/fixtures.js';
import { Miner } from '../../trainer/miner/miner.js';
import { taskRequestSigner } from '../ailo-miner/task-signer.js';
import { AiloNode } from '../node.js';
import { startTestNode, testNet, type TestNet } from '../test/harness.js';
import { publishOneTensorVersion } from '../test/model-version.js';

const FED = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 600_000 };
const TENSOR = 'h.1.ln_2.weight';

describe('a new model version reaches ailo-miner as the chunks that changed', () => {
  let net: TestNet;
  let node: AiloNode;
  let cache: string;
  const chunkRequests: string[] = [];

  /** Starts the node (again) on `port`, counting the chunk requests it serves. */
  async function start(port: number): Promise<void> {
    node = await startTestNode(net, join(net.root, 'data'), { federation: FED, port });
    (node as unknown as { server: Server }).server.on('request', (req: IncomingMessage) => {
      if (req.url?.startsWith('/api/model/chunk/')) chunkRequests.push(req.url.slice('/api/model/chunk/'.length));
    });
  }

  beforeAll(async () => {
    net = testNet(50);
    cache = mkdtempSync(join(tmpdir(), 'ailo-update-'));
    await start(0);
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
    net?.remove();
    rmSync(cache, { recursive: true, force: true });
  });

  it('downloads only the changed chunk into its disk cache and loads the new weights', async () => {
    const miner = new Miner({
      wallet: toChecksumAddress(wallet(321).address),
      signTaskRequest: taskRequestSigner(wallet(321).key, node.url),
      nodeUrl: node.url,
      provider: 'cpu',
      power: 100,
      cacheDir: cache,
    });
    await miner.loadModel();
    const chunks = node.federation!.model.manifest.chunks.map((c) => c.name);
    expect(miner.summary.chunks).toMatchObject({ downloaded: chunks.length, fromCache: 0 });
    expect(chunkRequests.sort()).toEqual([...chunks].sort());

    const old = node.federation!.store.weights(node.federation!.model).get(TENSOR)!;
    const next = await publishOneTensorVersion(node, TENSOR);
    // The tensor is small and sits inside one chunk; every other chunk is byte for byte the same.
    expect(next.changedChunks).toHaveLength(1);
    expect(next.signed.manifest.chunks).toHaveLength(chunks.length);
    const port = Number(new URL(node.url).port);
    await node.stop();
    chunkRequests.length = 0;
    await start(port);
    expect(node.federation!.version).toBe(next.signed.version);

    await miner.loadModel();
    expect(chunkRequests).toEqual(next.changedChunks);
    expect(miner.summary.chunks).toMatchObject({ downloaded: chunks.length + 1, fromCache: chunks.length - 1 });
    expect(miner.status.version).toBe(next.signed.version);
    const loaded = miner['model']!.weights;
    expect(loaded.get(TENSOR)).toEqual(next.weights.get(TENSOR));
    expect(loaded.get(TENSOR)).not.toEqual(old);
    // The cache holds both versions' chunks: the parent's one changed chunk stays beside its replacement.
    expect(readdirSync(cache).sort()).toEqual([...new Set([...chunks, ...next.changedChunks])].sort());

    // Loading again downloads nothing.
    await miner.loadModel();
    expect(chunkRequests).toEqual(next.changedChunks);
  }, 120_000);
});
