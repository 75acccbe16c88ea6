/**
 * Each row of the training split is paid once per model version (issue 11's outside attack): a miner whose update was
 * accepted took a second task on a window overlapping the first (86% of its rows) and sent the first update again,
 * its low-rank factors mixed by a random rotation (the same weight change, other bytes) and its sparse values dropped.
 * Honest updates on overlapping windows are as alike (cosine 0.92-0.999), so no similarity check can tell the copy
 * from work; it was paid 3 times in 3. Now the coordinator issues windows away from the version's paid rows and open
 * tasks, scores only a task's unpaid rows and pays only their share of the work.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hex } from '../../protocol/bytes.js';
import type { Task } from '../../protocol/federation.js';
import { DEFAULT_CORPUS_DIR } from '../../trainer/corpus/default-corpus.js';
import { buildShards } from '../../trainer/corpus/shard-builder.js';
import { readTextDocuments } from '../../trainer/corpus/text-reader.js';
import type { AiloNode } from '../node.js';
import { startTestNode, testNet, type TestNet } from '../test/harness.js';
import { decodeFor, rotatedLowRank, seededRng, trainedUpdate } from './redteam/attacks.js';
import { freshWallet, PublicApi, type RedTeamWallet } from './redteam/public-api.js';
import { sharedTokens } from './quality.js';

// The CI's task size: 48 rows of 33 tokens, so the default corpus's training split holds 12 disjoint windows.
const FED = { batchSize: 4, seqLen: 32, steps: 12, lr: 3e-3, roundSize: 8, roundMs: 600_000, tasksPerWallet: 6 };

const rangeOf = (t: Task): { shard: string; offset: number; length: number } => ({
  shard: t.data.shardName,
  offset: t.data.offset,
  length: t.data.length,
});

/**
 * A task for `w` on the current version whose window is `rows` rows after `of`'s (before it, where the shard ends first),
 * made by the node's own task book: the coordinator itself would not issue it.
 */
async function taskAt(api: PublicApi, node: AiloNode, w: RedTeamWallet, of: Task, rows: number): Promise<Task> {
  const issued = await api.task(w);
  const federation = node.federation!;
  const fields = federation.tasks.get(issued.taskId as Hex)!;
  await api.abandon(issued, w);
  const shift = rows * (of.seqLen + 1);
  const fits = of.data.offset + shift + of.data.length <= federation.shards.shard(of.data.shardName).tokens;
  const offset = fits ? of.data.offset + shift : of.data.offset - shift;
  const { id, state, issuedAt, ...rest } = fields;
  (void id, state, issuedAt);
  const t = federation.tasks.issue({ ...rest, shardName: of.data.shardName, shardDigest: of.data.shard.slice(2), offset });
  return { ...issued, taskId: t.id, data: { ...of.data, offset } };
}

describe('rows paid once per model version', () => {
  let net: TestNet;
  let node: AiloNode;
  let api: PublicApi;
  const miner = freshWallet();
  let first: Task;
  let firstBytes: Uint8Array;

  beforeAll(async () => {
    net = testNet(51);
    // The rows' bookkeeping on its own: without the recomputation check, which refuses these copies before scoring.
    node = await startTestNode(net, undefined, { federation: { ...FED, recomputeTolerance: 0 } });
    api = new PublicApi(node.url);
    first = await api.task(miner);
    const model = (await api.weights(first.modelVersion))!;
    firstBytes = (await trainedUpdate(model.cfg, model.weights, await api.tokens(first), first)).bytes;
    const out = await api.submit(miner, first, firstBytes);
    expect(out.code, out.message).toBe('ACCEPTED');
  }, 120_000);
  afterAll(async () => {
    await node?.stop();
    net?.remove();
  });

  it("issues windows that share no token with the version's paid rows or open tasks while free ones remain", async () => {
    const others = [freshWallet(), freshWallet()];
    const tasks: Task[] = [first];
    for (let i = 0; i < 5; i++) tasks.push(await api.task(others[i % 2]!));
    expect(new Set(tasks.map((t) => t.modelVersion))).toEqual(new Set([0]));
    for (let i = 0; i < tasks.length; i++) {
      for (let j = i + 1; j < tasks.length; j++)
        expect(sharedTokens(rangeOf(tasks[i]!), rangeOf(tasks[j]!)), `tasks ${i} and ${j}`).toBe(0);
    }
    for (const [i, t] of tasks.slice(1).entries()) await api.abandon(t, others[i % 2]!);
  }, 60_000);

  it('pays nothing for a rotated copy of an accepted update sent on a window 87% inside it', async () => {
    const attacker = freshWallet();
    const task = await taskAt(api, node, attacker, first, 6);
    expect(sharedTokens(rangeOf(task), rangeOf(first)) / task.data.length).toBeCloseTo(42 / 48, 9);
    const model = (await api.weights(first.modelVersion))!;
    const out = await api.submit(attacker, task, rotatedLowRank(decodeFor(model.cfg, firstBytes), seededRng(7)));
    expect(out.code, out.message).toBe('TOO_LITTLE_WORK');
    expect(out.message).toMatch(/42 of the task's 48 rows were already paid on this model version/);
    expect(await api.balance(attacker.address)).toBe(0n);
  }, 60_000);

  it('pays nothing for the same copy on a window half inside it: scored on the unpaid rows only, which it never learned', async () => {
    const attacker = freshWallet();
    const task = await taskAt(api, node, attacker, first, 24);
    const model = (await api.weights(first.modelVersion))!;
    const out = await api.submit(attacker, task, rotatedLowRank(decodeFor(model.cfg, firstBytes), seededRng(8)));
    expect(out.accepted, `${out.code}: ${out.message}`).toBe(false);
    expect(out.message).toMatch(/50% of the task's rows unpaid on this version/);
    expect(await api.balance(attacker.address)).toBe(0n);
  }, 60_000);

  it('pays honest work on a window a quarter inside paid rows for the three quarters that are new', async () => {
    const honest = freshWallet();
    const task = await taskAt(api, node, honest, first, 36);
    const model = (await api.weights(first.modelVersion))!;
    const made = await trainedUpdate(model.cfg, model.weights, await api.tokens(task), task);
    const out = await api.submit(honest, task, made.bytes);
    expect(out.code, out.message).toBe('ACCEPTED');
    expect(out.reward).toBeGreaterThan(0n);
    await api.untilConfirmed(out.contribution!);
    expect(await api.balance(honest.address)).toBe(out.reward);
  }, 60_000);
});

describe('a version whose training split is all paid', () => {
  let net: TestNet;
  let node: AiloNode;
  let api: PublicApi;
  const corpus = mkdtempSync(join(tmpdir(), 'ailo-paid-rows-'));

  beforeAll(async () => {
    // A training split of one document in shards of 1,056 tokens: the first holds exactly two disjoint windows of
    // 16 rows of 33 tokens, the rest (fewer tokens than a window) gives the gauntlet its unassigned rows.
    const docs = join(corpus, 'docs');
    mkdirSync(docs);
    copyFileSync(join(DEFAULT_CORPUS_DIR, 'bees.md'), join(docs, 'a.md'));
    copyFileSync(join(DEFAULT_CORPUS_DIR, 'moon-tides.md'), join(docs, 'b.md'));
    await buildShards(readTextDocuments(docs), { outDir: join(corpus, 'shards'), shardTokens: 1056, heldOutEvery: 2 });
    net = testNet(52);
    node = await startTestNode(net, undefined, {
      federation: { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 8, roundMs: 600_000, shardsDir: join(corpus, 'shards') },
    });
    api = new PublicApi(node.url);
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
    net?.remove();
    rmSync(corpus, { recursive: true, force: true });
  });

  it('closes its round at once and issues the next task on the next version', async () => {
    const w = freshWallet();
    const tasks = [await api.task(w), await api.task(w)];
    expect(sharedTokens(rangeOf(tasks[0]!), rangeOf(tasks[1]!))).toBe(0);
    for (const task of tasks) {
      const model = (await api.weights(task.modelVersion))!;
      const out = await api.submit(w, task, (await trainedUpdate(model.cfg, model.weights, await api.tokens(task), task)).bytes);
      expect(out.code, out.message).toBe('ACCEPTED');
    }
    expect(await api.currentVersion()).toBe(0); // roundSize 8: the round alone would wait for six more updates
    const next = await api.task(w);
    expect(next.modelVersion).toBe(1);
    expect(await api.currentVersion()).toBe(1);
  }, 120_000);
});

describe('an accepted update sent again on a later version', () => {
  let net: TestNet;
  let node: AiloNode;
  let api: PublicApi;

  beforeAll(async () => {
    net = testNet(53);
    node = await startTestNode(net, undefined, { federation: { ...FED, roundSize: 2 } });
    api = new PublicApi(node.url);
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
    net?.remove();
  });

  /** An honest update of `task`, submitted by `w`; returns its bytes (accepted). */
  async function honest(w: RedTeamWallet, task: Task): Promise<Uint8Array> {
    const model = (await api.weights(task.modelVersion))!;
    const bytes = (await trainedUpdate(model.cfg, model.weights, await api.tokens(task), task)).bytes;
    const out = await api.submit(w, task, bytes);
    expect(out.code, out.message).toBe('ACCEPTED');
    return bytes;
  }

  /** Closes the open round with honest updates of a driver wallet. */
  async function nextVersion(): Promise<void> {
    const driver = freshWallet();
    const from = await api.currentVersion();
    while ((await api.currentVersion()) === from) await honest(driver, await api.task(driver));
  }

  it('is not issued its window again while it is recent, earns nothing on the nearest window it can get, nor on its own window (recomputed)', async () => {
    const attacker = freshWallet();
    const first = await api.task(attacker);
    const bytes = await honest(attacker, first);
    const model = (await api.weights(first.modelVersion))!;
    const original = decodeFor(model.cfg, bytes);
    await nextVersion();
    // The attacker asks for tasks until it holds its slots, keeps the one sharing most of its first window, gives back the rest.
    const tasks: Task[] = [];
    for (let i = 0; i < FED.tasksPerWallet; i++) tasks.push(await api.task(attacker));
    const shared = (t: Task): number => sharedTokens(rangeOf(t), rangeOf(first)) / first.data.length;
    tasks.sort((a, b) => shared(b) - shared(a));
    expect(shared(tasks[0]!)).toBe(0);
    for (const t of tasks.slice(1)) await api.abandon(t, attacker);
    const before = await api.balance(attacker.address);
    const out = await api.submit(attacker, tasks[0]!, rotatedLowRank(original, seededRng(9)));
    expect(out.accepted, `${out.code}: ${out.message}`).toBe(false);
    expect(await api.balance(attacker.address)).toBe(before);
    // Given its own window again anyway (made by the node's task book), the same copy is not the task's training.
    const again = await taskAt(api, node, attacker, first, 0);
    const reuse = await api.submit(attacker, again, rotatedLowRank(original, seededRng(10)));
    expect(reuse.code, reuse.message).toBe('UPDATE_MISMATCH');
    expect(reuse.message).toMatch(/% away from the coordinator's own recomputation/);
    expect(await api.balance(attacker.address)).toBe(before);
  }, 300_000);
});

describe('task windows on a large split', () => {
  let net: TestNet;
  let node: AiloNode;
  let api: PublicApi;

  beforeAll(async () => {
    net = testNet(54);
    // Rows of 4 tokens: the default corpus's training split holds about 4,900 windows, more than are scanned whole.
    node = await startTestNode(net, undefined, { federation: { batchSize: 2, seqLen: 3, steps: 4, roundSize: 8, tasksPerWallet: 8 } });
    api = new PublicApi(node.url);
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
    net?.remove();
  });

  it('are chosen among candidates (shard ends, neighbours of live windows, a random sample) and still share no token', async () => {
    const w = freshWallet();
    const tasks: Task[] = [];
    for (let i = 0; i < 8; i++) tasks.push(await api.task(w));
    for (let i = 0; i < tasks.length; i++) {
      for (let j = i + 1; j < tasks.length; j++)
        expect(sharedTokens(rangeOf(tasks[i]!), rangeOf(tasks[j]!)), `tasks ${i} and ${j}`).toBe(0);
    }
  }, 60_000);
});
