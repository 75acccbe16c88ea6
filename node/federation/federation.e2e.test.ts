/**
 * Federated rounds end to end on loopback: a coordinator node and two miners on ailo-tiny run several rounds;
 * versions advance, every accepted submission has its contribution and reward on the ledger, balances match, the
 * audit passes and held-out loss falls. Then hostile submissions are each refused with their reason and earn nothing.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { toChecksumAddress } from '../../protocol/address.js';
import { WorkerPoolVerifier } from '../../chain/crypto/recover-pool.js';
import { auditStore } from '../../chain/audit/store-audit.js';
import { ChainStore } from '../../chain/store/chain-store.js';
import { wallet, type Wallet } from '../../chain/test/fixtures.js';
import { signTaskRequest } from '../../chain/tx/task-request.js';
import { compressUpdate, matrixRowLengths } from '../../trainer/codec/compress.js';
import { encodeUpdate, UpdateEncoding } from '../../trainer/codec/update-codec.js';
import { batchRows, listBatchAddresses } from '../../trainer/corpus/shards.js';
import { trainLocally } from '../../trainer/federated/local-training.js';
import { paramSpecs, numel, presetConfig } from '../../trainer/model/config.js';
import type { Weights } from '../../trainer/model/weights.js';
import type { Task } from '../../protocol/federation.js';
import { Miner, type MinerSummary } from '../../trainer/miner/miner.js';
import { ForwardSession } from '../../trainer/runtime/model-session.js';
import { tokenBatch } from '../../trainer/runtime/tokens.js';
import { tokensFromBytes } from '../../trainer/corpus/shard-format.js';
import { taskRequestSigner } from '../ailo-miner/task-signer.js';
import { AiloNode } from '../node.js';
import { auditCommand } from '../commands/audit.js';
import { CHANCE_REFUSALS } from './quality.js';
import { fetchNetworkDomain } from '../ailo-miner/node-network.js';
import { get, testNet, waitFor, type TestNet, coordinator } from '../test/harness.js';

const cfg = presetConfig('ailo-tiny');
const FED = {
  batchSize: 4,
  seqLen: 32,
  steps: 12,
  lr: 3e-3,
  roundSize: 2,
  roundMs: 120_000,
  maxStaleness: 1,
  density: 0.01,
  tasksPerWallet: 16,
};
const TASKS_PER_MINER = 4;
const minerA = wallet(201);
const minerB = wallet(202);
const mallory = wallet(203);
const trent = wallet(204);

async function submit(
  url: string,
  who: string,
  task: Task,
  body: Uint8Array,
  o: { modelVersion?: number; contentType?: string } = {},
): Promise<{ status: number; json: any }> {
  const q = new URLSearchParams({
    wallet: who,
    taskId: task.taskId,
    modelVersion: String(o.modelVersion ?? task.modelVersion),
    loss: '3.2',
    batchSize: String(task.batchSize),
  });
  const res = await fetch(`${url}/api/submit_gradient?${q}`, {
    method: 'POST',
    headers: { 'content-type': o.contentType ?? 'application/octet-stream' },
    body: new Uint8Array(body),
  });
  return { status: res.status, json: await res.json() };
}

/** A task for a fixture wallet, asked for with a request signed by its key (as ailo-miner asks). */
async function newTask(url: string, who: Wallet): Promise<Task> {
  const res = await fetch(`${url}/api/task`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(signTaskRequest(who.key, await fetchNetworkDomain(url), coordinator.address)),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as Task;
}

describe('federated rounds on loopback', () => {
  let net: TestNet;
  let node: AiloNode;
  let cache: string;
  let summaries: MinerSummary[] = [];
  let staleTask: Task;
  let firstWeights: Weights;

  beforeAll(async () => {
    net = testNet(50);
    cache = mkdtempSync(join(tmpdir(), 'ailo-miner-'));
    node = await AiloNode.start({
      data: join(net.root, 'data'),
      host: '127.0.0.1',
      port: 0,
      genesisFile: net.genesisPath,
      coordinatorKeyFile: net.keyPath,
      log: () => {},
      federation: FED,
    });
    firstWeights = node.federation!.store.weights(node.federation!.model);
    staleTask = await newTask(node.url, mallory);
    const miners = [minerA, minerB].map(
      (w, i) =>
        new Miner({
          wallet: toChecksumAddress(w.address),
          signTaskRequest: taskRequestSigner(w.key, node.url),
          nodeUrl: node.url,
          provider: 'cpu',
          power: 100,
          cacheDir: join(cache, `m${i}`),
          maxTasks: TASKS_PER_MINER,
        }),
    );
    summaries = await Promise.all(miners.map((m) => m.run()));
    for (const m of miners) await m.settle(20_000);
  }, 300_000);

  afterAll(async () => {
    await node?.stop().catch(() => undefined);
    net?.remove();
    rmSync(cache, { recursive: true, force: true });
  });

  it("accepts the miners' updates and advances the model version", async () => {
    const accepted = summaries.flatMap((s) => s.accepted);
    // With two miners racing a round of two and a staleness window of one, a task can fall two versions behind.
    const reasons = summaries.flatMap((s) => s.rejections.map((r) => r.code));
    // The coordinator's one-sided 1% tests refuse an honest update now and then (issue 11 allows 5%; `npm run bench --
    // acceptance` measured 47 of 48 accepted at this task size): one scored refusal among these is chance; any other
    // refusal, or two, is a fault.
    const refused = reasons.filter((c) => c !== 'STALE_VERSION');
    const scored = (c: string): boolean => CHANCE_REFUSALS.has(c);
    const byChance = refused.filter(scored).length <= 1 ? refused.filter((c) => !scored(c)) : refused;
    expect(byChance, JSON.stringify(summaries.map((s) => s.rejections))).toEqual([]);
    expect(accepted.length).toBeGreaterThanOrEqual(TASKS_PER_MINER);
    expect(node.chain.view().meta().latestModelVersion).toBeGreaterThanOrEqual(2n);
    const status = (await get(`${node.url}/api/status`)).json;
    expect(status.globalModelVersion).toBe(Number(node.chain.view().meta().latestModelVersion));
    // This node, and the wallets that asked for a task or had work accepted in the last 2 minutes: the two miners (and
    // mallory, whose task request in beforeAll may still be that recent).
    expect(status.activeMiners).toBeGreaterThanOrEqual(2);
    expect(status.activeNodes).toBe(1 + status.peers + status.activeMiners);
    expect(status.globalHashrate).not.toBe('0.0 Tok/s');
    expect(status.globalParams).toBeGreaterThan(3_000_000);
  });

  it('records each accepted submission as a confirmed contribution with its reward, and balances match', async () => {
    for (const [i, w] of [minerA, minerB].entries()) {
      const s = summaries[i]!;
      let sum = 0n;
      for (const r of s.accepted) {
        expect(r.ledger.status).toBe('confirmed');
        const tx = (await get(`${node.url}/api/ledger/tx/${r.contribution}`)).json;
        expect(tx.status).toBe('confirmed');
        expect(tx.tx.miner).toBe(toChecksumAddress(w.address));
        expect(BigInt(tx.tx.reward)).toBe((10n ** 17n * BigInt(tx.tx.quality)) / 1000n);
        expect(tx.tx.quality).toBeGreaterThanOrEqual(1000);
        sum += r.reward;
      }
      expect(sum).toBeGreaterThan(0n);
      expect(node.ledger.account(w.address).balance).toBe(sum);
    }
  });

  it('each published version names contributions that exist, and the model API serves it signed', async () => {
    const latest = Number(node.chain.view().meta().latestModelVersion);
    const listed = new Set<string>();
    for (let v = 1; v <= latest; v++) {
      const entry = node.chain.view().modelVersion(BigInt(v));
      expect(entry).toBeDefined();
      const tx = (await get(`${node.url}/api/ledger/tx/${entry!.txHash}`)).json.tx;
      expect(tx.contributions.length).toBeGreaterThan(0);
      for (const c of tx.contributions) listed.add(c);
    }
    const accepted = summaries.flatMap((s) => s.accepted.map((r) => r.contribution));
    for (const c of listed) expect(accepted).toContain(c);
    const model = (await get(`${node.url}/api/model`)).json;
    expect(model.type).toBe('sharded');
    expect(model.version).toBe(latest);
    expect(model.manifestDigest).toBe(node.chain.view().modelVersion(BigInt(latest))!.manifestDigest);
    expect(Object.keys(model.manifest.tensorMap)).toEqual(paramSpecs(cfg).map((s) => s.name));
  });

  it('serves chunks immutable, with the digest as ETag, 304 on a match and byte ranges', async () => {
    const model = (await get(`${node.url}/api/model`)).json;
    const chunk = model.manifest.chunks[0];
    const full = await fetch(`${node.url}/api/model/chunk/${chunk.name}`);
    expect(full.status).toBe(200);
    expect(full.headers.get('etag')).toBe(`"${chunk.name}"`);
    expect(full.headers.get('cache-control')).toContain('immutable');
    const bytes = new Uint8Array(await full.arrayBuffer());
    expect(bytes.length).toBe(chunk.size);
    const part = await fetch(`${node.url}/api/model/chunk/${chunk.name}`, { headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-19/${chunk.size}`);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(bytes.subarray(10, 20));
    const cached = await fetch(`${node.url}/api/model/chunk/${chunk.name}`, { headers: { 'if-none-match': `"${chunk.name}"` } });
    expect(cached.status).toBe(304);
    const outside = await fetch(`${node.url}/api/model/chunk/${chunk.name}`, { headers: { range: `bytes=${chunk.size}-` } });
    expect(outside.status).toBe(416);
    expect((await fetch(`${node.url}/api/model/chunk/${'0'.repeat(64)}`)).status).toBe(404);
  });

  it('the last version has clearly lower held-out loss than the first', async () => {
    const f = node.federation!;
    const last = f.store.weights(f.model);
    const fs = new ForwardSession(cfg, 'cpu');
    const held = listBatchAddresses(f.shards.manifest, 'eval', 4, 32)
      .slice(0, 4)
      .map((a) => tokenBatch(cfg, batchRows(f.shards.readBatch(a))));
    const heldLoss = async (w: Weights): Promise<number> => {
      await fs.setWeights(w);
      let s = 0;
      for (const b of held) s += await fs.loss(b);
      return s / held.length;
    };
    const before = await heldLoss(firstWeights);
    const after = await heldLoss(last);
    await fs.dispose();
    console.log(`held-out loss: version 0 ${before.toFixed(3)}, version ${f.version} ${after.toFixed(3)}`);
    expect(before - after).toBeGreaterThan(1.0); // seen: 10.79 -> 8.2 to 8.9 after 3-4 versions
    // The node serves its own per-version measure (what the browser's mining panel charts beside each task's loss).
    const round = (await get(`${node.url}/api/round`)).json;
    expect(round.heldOutLoss.length).toBeGreaterThanOrEqual(2);
    expect(round.heldOutLoss[0]).toMatchObject({ version: 0 });
    expect(round.heldOutLoss.at(-1).loss).toBeLessThan(round.heldOutLoss[0].loss);
  });

  it("hands out tasks on different tokens, even from a corpus as small as the devnet's", async () => {
    const tasks = [];
    for (let i = 0; i < 4; i++) tasks.push(await newTask(node.url, wallet(4242)));
    expect(new Set(tasks.map((t) => `${t.data.shard}:${t.data.offset}`)).size).toBe(4);
  });

  describe('hostile submissions', () => {
    const who = toChecksumAddress(mallory.address);
    let honest: { task: Task; body: Uint8Array; delta: Weights };

    beforeAll(async () => {
      // One honest submission by Mallory, to replay and copy below.
      const task = await newTask(node.url, mallory);
      const tokens = tokensFromBytes(new Uint8Array(await (await fetch(`${node.url}${`/api/task/${task.taskId}/tokens`}`)).arrayBuffer()));
      const base = node.federation!.store.weights(node.federation!.manifest(task.modelVersion)!);
      const ordered: Weights = new Map(paramSpecs(cfg).map((s) => [s.name, base.get(s.name)!]));
      const trained = await trainLocally(cfg, 'cpu', ordered, tokens, task);
      const body = compressUpdate(trained!.update, undefined, {
        density: task.density,
        maxAbs: task.maxAbs,
        rowLengths: matrixRowLengths(cfg),
      }).bytes;
      const r = await submit(node.url, who, task, body);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      honest = { task, body, delta: trained!.update };
    }, 60_000);

    it('garbage bytes: BAD_UPDATE', async () => {
      const task = await newTask(node.url, mallory);
      const r = await submit(node.url, who, task, new TextEncoder().encode('not an update at all'));
      expect([r.status, r.json.error.code]).toEqual([400, 'BAD_UPDATE']);
    });

    it('NaN values: NON_FINITE', async () => {
      const task = await newTask(node.url, mallory);
      const body = encodeUpdate([
        {
          name: 'ln_f.bias',
          numel: cfg.n_embd,
          encoding: UpdateEncoding.F32,
          indices: Uint32Array.of(0, 5),
          values: Float32Array.of(NaN, 0.001),
          lowRank: null,
        },
      ]);
      const r = await submit(node.url, who, task, body);
      expect([r.status, r.json.error.code]).toEqual([422, 'NON_FINITE']);
    });

    it('a value beyond the bound: NORM_EXCEEDED; more values than allowed: TOO_DENSE', async () => {
      const task = await newTask(node.url, mallory);
      const big = encodeUpdate([
        {
          name: 'ln_f.bias',
          numel: cfg.n_embd,
          encoding: UpdateEncoding.F32,
          indices: Uint32Array.of(3),
          values: Float32Array.of(task.maxAbs * 10),
          lowRank: null,
        },
      ]);
      const r = await submit(node.url, who, task, big);
      expect([r.status, r.json.error.code]).toEqual([422, 'NORM_EXCEEDED']);
      const n = numel([cfg.vocab_size, cfg.n_embd]);
      const dense = encodeUpdate([
        {
          name: 'wte.weight',
          numel: n,
          encoding: UpdateEncoding.Q8,
          indices: Uint32Array.from({ length: task.maxValues + 1 }, (_, i) => i),
          values: new Float32Array(task.maxValues + 1).fill(1e-5),
          lowRank: null,
        },
      ]);
      const r2 = await submit(node.url, who, task, dense);
      expect([r2.status, r2.json.error.code]).toEqual([422, 'TOO_DENSE']);
    });

    it('oversized body: BODY_TOO_LARGE', async () => {
      const task = await newTask(node.url, mallory);
      const r = await submit(node.url, who, task, new Uint8Array(task.maxBytes + 1));
      expect([r.status, r.json.error.code]).toEqual([413, 'BODY_TOO_LARGE']);
    });

    it('replayed task: TASK_USED', async () => {
      const r = await submit(node.url, who, honest.task, honest.body);
      expect([r.status, r.json.error.code]).toEqual([409, 'TASK_USED']);
    });

    it("someone else's task: TASK_NOT_YOURS", async () => {
      const task = await newTask(node.url, trent);
      const r = await submit(node.url, who, task, honest.body);
      expect([r.status, r.json.error.code]).toEqual([403, 'TASK_NOT_YOURS']);
    });

    it('a copy of an accepted update: exact, DUPLICATE_UPDATE; nudged, COPIED_UPDATE', async () => {
      const task = await newTask(node.url, trent);
      const exact = await submit(node.url, toChecksumAddress(trent.address), task, honest.body);
      expect([exact.status, exact.json.error.code]).toEqual([409, 'DUPLICATE_UPDATE']);
      const nudged = honest.body.slice();
      nudged[nudged.length - 1] = (nudged[nudged.length - 1]! + 1) & 0x7f;
      const near = await submit(node.url, toChecksumAddress(trent.address), task, nudged);
      expect([near.status, near.json.error.code]).toEqual([409, 'COPIED_UPDATE']);
    });

    it("stale version: STALE_VERSION; a claimed version that is not the task's: VERSION_MISMATCH", async () => {
      expect(node.federation!.version - staleTask.modelVersion).toBeGreaterThan(1);
      const r = await submit(node.url, who, staleTask, honest.body);
      expect([r.status, r.json.error.code]).toEqual([409, 'STALE_VERSION']);
      const task = await newTask(node.url, mallory);
      const r2 = await submit(node.url, who, task, honest.body, { modelVersion: task.modelVersion + 1 });
      expect([r2.status, r2.json.error.code]).toEqual([409, 'VERSION_MISMATCH']);
    });

    it("an update that is not the task's training (gradient ascent, within every bound): UPDATE_MISMATCH, one scored try", async () => {
      const task = await newTask(node.url, trent);
      // Gradient ascent: the honest update turned around, well formed and within every bound.
      const ascent = new Map([...honest.delta].map(([name, d]) => [name, d.map((v) => -v)]));
      const body = compressUpdate(ascent, undefined, {
        density: task.density,
        maxAbs: task.maxAbs,
        rowLengths: matrixRowLengths(cfg),
      }).bytes;
      const r = await submit(node.url, toChecksumAddress(trent.address), task, body);
      expect([r.status, r.json.error.code]).toEqual([422, 'UPDATE_MISMATCH']);
      // A second ticket in the same lottery: another update for the task that was scored and refused.
      const half = compressUpdate(new Map([...ascent].map(([name, d]) => [name, d.map((v) => v / 2)])), undefined, {
        density: task.density,
        maxAbs: task.maxAbs,
        rowLengths: matrixRowLengths(cfg),
      }).bytes;
      const retry = await submit(node.url, toChecksumAddress(trent.address), task, half);
      expect([retry.status, retry.json.error.code]).toEqual([409, 'TASK_REFUSED']);
    });

    it('refused submissions earn nothing: only the honest one is on the ledger', async () => {
      await waitFor('the honest contribution in a block', async () => (node.ledger.pool.size === 0 ? true : undefined));
      const history = (await get(`${node.url}/api/ledger/history/${who}?limit=50`)).json;
      expect(history.items.length).toBe(1);
      expect(history.items[0].tx.taskId).toBe(honest.task.taskId);
      expect(node.ledger.account(mallory.address).balance).toBe(BigInt(history.items[0].tx.reward));
      expect(node.ledger.account(trent.address).balance).toBe(0n);
    });

    /** `ailo audit` with its printed lines. */
    async function audit(o: Parameters<typeof auditCommand>[0]): Promise<{ code: number; out: string }> {
      const lines: string[] = [];
      const spy = vi.spyOn(console, 'log').mockImplementation((l: unknown) => void lines.push(String(l)));
      try {
        return { code: await auditCommand({ ...o, quiet: true }), out: lines.join('\n') };
      } finally {
        spy.mockRestore();
      }
    }

    it('ailo audit --models recomputes every published version from the genesis weights and the served updates', async () => {
      const r = await audit({ node: node.url, models: true });
      expect(r.out).toMatch(/models: all [0-9]+ versions recomputed from the genesis weights match their recorded manifest digests/);
      expect(r.code).toBe(0);
    });

    it('the audit replays the whole chain cleanly; with --models it blames the source, not the chain, for an update altered on disk', async () => {
      await node.stop();
      const data = join(net.root, 'data');
      expect((await audit({ data, models: true })).code).toBe(0);
      // The accepted updates' bytes, altered where the node keeps them: the first version that aggregated one no longer
      // recomputes, and the audit says which and why.
      const updates = join(data, 'federation', 'updates');
      for (const name of readdirSync(updates)) {
        const bytes = readFileSync(join(updates, name));
        bytes[bytes.length - 1]! ^= 1;
        writeFileSync(join(updates, name), bytes);
      }
      const tampered = await audit({ data, models: true });
      expect(tampered.code).toBe(1);
      expect(tampered.out).toMatch(
        /models: the source is at fault, not the chain: version 1 not checked: the update of contribution 0x[0-9a-f]{64} was served with sha256 0x[0-9a-f]{64}, not the recorded 0x[0-9a-f]{64}/,
      );
      const store = await ChainStore.open(join(net.root, 'data', 'chain'));
      const verifier = new WorkerPoolVerifier();
      try {
        const report = await auditStore(store, node.chain.spec, { verifier });
        expect(report.faults).toEqual([]);
        expect(report.txs.contribution).toBe(summaries.flatMap((s) => s.accepted).length + 1);
        expect(report.modelVersions).toBeGreaterThanOrEqual(2n);
      } finally {
        await store.close();
        await verifier.close();
      }
    });
  });
});
