// A task's update as miners send it keeps at least 90% of the uncompressed update's loss gain over the task's rows.
// Config: ailo-tiny on the default corpus, the devnet task (16 AdamW steps of 8 rows x 64 tokens, lr 2e-3), density
// 0.01, bound 3 x lr x steps; from the init weights, and from a partly trained model (the init weights after three
// such tasks on other windows, applied whole) as a stand-in for a later model version. The v1 codec (q8 mean row per
// matrix plus top-k) kept 83% and 46% of the gain here.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCorpusShards } from '../corpus/default-corpus.js';
import { listBatchAddresses, type ShardSet } from '../corpus/shards.js';
import { denseValues, UPDATE_CODEC_VERSION } from '../codec/update-codec.js';
import { presetConfig } from '../model/config.js';
import { initWeights, type Weights } from '../model/weights.js';
import { ForwardSession } from '../runtime/model-session.js';
import { tokenBatch } from '../runtime/tokens.js';
import { trainLocally } from './local-training.js';
import { stepRows } from './task-rows.js';
import { checkCodecVersion, compressTaskUpdate } from './task-update.js';

const cfg = presetConfig('ailo-tiny');
const task = { steps: 16, batchSize: 8, seqLen: 64, lr: 2e-3 };
const limits = { density: 0.01, maxAbs: 3 * task.lr * task.steps };
const width = task.seqLen + 1;

let cache: string;
let shards: ShardSet;
let fwd: ForwardSession;
beforeAll(async () => {
  cache = await mkdtemp(join(tmpdir(), 'ailo-task-update-'));
  shards = await defaultCorpusShards(cache);
  fwd = new ForwardSession(cfg, 'cpu');
});
afterAll(async () => {
  await fwd?.dispose();
  await rm(cache, { recursive: true, force: true });
});

const plus = (w: Weights, delta: ReadonlyMap<string, Float32Array>): Weights =>
  new Map(
    [...w].map(([name, x]) => {
      const d = delta.get(name);
      return [name, d ? Float32Array.from(x, (v, i) => v + d[i]!) : x];
    }),
  );

function taskTokens(window: number): Uint16Array {
  const windows = listBatchAddresses(shards.manifest, 'train', task.steps * task.batchSize, task.seqLen, width);
  const a = windows[window % windows.length]!;
  return shards.readTokens(a.shard, a.offset, task.steps * task.batchSize * width);
}

async function meanLoss(w: Weights, rows: number[][]): Promise<number> {
  await fwd.setWeights(w);
  let sum = 0;
  for (let i = 0; i < rows.length; i += 32) for (const x of await fwd.rowLosses(tokenBatch(cfg, rows.slice(i, i + 32)))) sum += x;
  return sum / rows.length;
}

/** Trains one task from `start` and returns the loss gain over all its rows: uncompressed, and as sent. */
async function gains(start: Weights, window: number): Promise<{ dense: number; sent: number; bytes: number }> {
  const tokens = taskTokens(window);
  const rows = Array.from({ length: task.steps }, (_, s) => stepRows(tokens, task, s)).flat();
  const trained = (await trainLocally(cfg, 'cpu', start, tokens, task))!;
  const compressed = compressTaskUpdate(cfg, trained.update, limits);
  const before = await meanLoss(start, rows);
  const dense = before - (await meanLoss(plus(start, trained.update), rows));
  const sent = before - (await meanLoss(plus(start, new Map(compressed.sent.map((t) => [t.name, denseValues(t)]))), rows));
  return { dense, sent, bytes: compressed.bytes.length };
}

describe('compressTaskUpdate on ailo-tiny tasks', () => {
  it('keeps >= 90% of the loss gain from the init weights', async () => {
    const g = await gains(initWeights(cfg, 1), 3);
    console.log(
      `init weights: gain ${g.dense.toFixed(3)} nats uncompressed, ${g.sent.toFixed(3)} sent (${((100 * g.sent) / g.dense).toFixed(1)}%), ${g.bytes} bytes`,
    );
    expect(g.dense).toBeGreaterThan(1);
    expect(g.sent / g.dense).toBeGreaterThanOrEqual(0.9);
  });

  it('keeps >= 90% of the loss gain from a partly trained model', async () => {
    let w = initWeights(cfg, 1);
    for (const window of [11, 48, 85]) w = plus(w, (await trainLocally(cfg, 'cpu', w, taskTokens(window), task))!.update);
    const g = await gains(w, 40);
    console.log(
      `after 3 tasks: gain ${g.dense.toFixed(3)} nats uncompressed, ${g.sent.toFixed(3)} sent (${((100 * g.sent) / g.dense).toFixed(1)}%), ${g.bytes} bytes`,
    );
    expect(g.dense).toBeGreaterThan(0.05);
    expect(g.sent / g.dense).toBeGreaterThanOrEqual(0.9);
  });
});

describe('checkCodecVersion', () => {
  it('lets a task through only when it asks for the codec this build sends, and says what to do otherwise', () => {
    expect(() => checkCodecVersion({ codecVersion: UPDATE_CODEC_VERSION })).not.toThrow();
    expect(() => checkCodecVersion({ codecVersion: 1 })).toThrow(/asks for update codec v1, this miner sends v2: update the miner/);
    expect(() => checkCodecVersion({})).toThrow(/codec v\?/);
  });
});
