// The coordinator's verification cost per submission (issue 11): bytes received, and ms for decoding, the copy check
// against a round's accepted updates and recent published changes, the recomputation of the task and the scoring
// forward passes; the per-version preparation (pools and reference tasks) apart. Measured on ailo-tiny at the
// devnet's task size against the miner's own training time for the same task (same run, same machine); ailo-1b figures
// are computed from FLOPs.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { weightChangeDistance } from '../trainer/codec/compress.js';
import { sharedValueFraction } from '../trainer/codec/similarity.js';
import { decodeUpdate } from '../trainer/codec/update-codec.js';
import { defaultCorpusShards } from '../trainer/corpus/default-corpus.js';
import { listBatchAddresses } from '../trainer/corpus/shards.js';
import { trainLocally } from '../trainer/federated/local-training.js';
import { compressTaskUpdate } from '../trainer/federated/task-update.js';
import { numel, paramCount, paramSpecs, presetConfig } from '../trainer/model/config.js';
import { initWeights } from '../trainer/model/weights.js';
import { DEFAULT_FEDERATION } from '../node/federation/service.js';
import { QualityMeter, sampleIndices, type PoolRow } from '../node/federation/quality.js';

export async function run(): Promise<void> {
  const cache = await mkdtemp(join(tmpdir(), 'ailo-verify-bench-'));
  try {
    const cfg = presetConfig('ailo-tiny');
    const fed = DEFAULT_FEDERATION;
    const { batchSize: B, seqLen: T, steps, density, score } = fed;
    const width = T + 1;
    const shards = await defaultCorpusShards(cache);
    const base = initWeights(cfg, 1);
    const sizes = new Map(paramSpecs(cfg).map((s) => [s.name, numel(s.shape)]));
    const windows = listBatchAddresses(shards.manifest, 'train', steps * B, T, width);
    const rowOf = (a: { shard: string; offset: number }): PoolRow => ({
      shard: a.shard,
      offset: a.offset,
      ids: Array.from(shards.readTokens(a.shard, a.offset, width)),
    });
    const rows = (split: 'train' | 'eval', n: number): PoolRow[] => {
      const all = listBatchAddresses(shards.manifest, split, 1, T, Math.ceil(width / 2));
      return sampleIndices(all.length, n).map((i) => rowOf(all[i]!));
    };
    const meter = new QualityMeter(cfg, 'cpu', score);

    // Five honest tasks: four play the round's accepted updates, the fifth is the submission verified.
    const tasks: { bytes: Uint8Array; rows: number[][]; address: (typeof windows)[number]; trainMs: number }[] = [];
    for (const index of sampleIndices(windows.length, 5)) {
      const address = windows[index]!;
      const tokens = shards.readTokens(address.shard, address.offset, steps * B * width);
      const t0 = performance.now();
      const trained = await trainLocally(cfg, 'cpu', base, tokens, { steps, batchSize: B, seqLen: T, lr: fed.lr });
      const bytes = compressTaskUpdate(cfg, trained!.update, { density, maxAbs: 3 * fed.lr * steps }).bytes;
      tasks.push({
        bytes,
        address,
        trainMs: performance.now() - t0,
        rows: Array.from({ length: steps * B }, (_, r) => Array.from(tokens.subarray(r * width, (r + 1) * width))),
      });
    }
    const trainMs = tasks.reduce((s, t) => s + t.trainMs, 0) / tasks.length;

    let t0 = performance.now();
    const pool = await meter.pool(base, rows('train', 4 * score.unassignedRows), rows('eval', 4 * score.heldOutRows));
    const poolMs = performance.now() - t0;

    const sub = tasks[4]!;
    const accepted = tasks.slice(0, 4).map((t) => decodeUpdate(t.bytes, sizes));
    // A control (the coordinator's reference update), once per version: the task window farthest from the submission's.
    const ctrl = tasks
      .slice(0, 4)
      .reduce((a, b) => (Math.abs(b.address.offset - sub.address.offset) > Math.abs(a.address.offset - sub.address.offset) ? b : a));
    t0 = performance.now();
    const control = await meter.control(base, pool, decodeUpdate(ctrl.bytes, sizes), {
      shard: ctrl.address.shard,
      offset: ctrl.address.offset,
      length: steps * B * width,
    });
    const controlMs = performance.now() - t0;
    const reps = 3;
    let decodeMs = 0;
    let copyMs = 0;
    let scoreMs = 0;
    let recomputeMs = 0;
    const subTokens = shards.readTokens(sub.address.shard, sub.address.offset, steps * B * width);
    for (let r = 0; r < reps; r++) {
      t0 = performance.now();
      const update = decodeUpdate(sub.bytes, sizes);
      decodeMs += performance.now() - t0;
      t0 = performance.now();
      // 4 accepted updates (both directions) and 3 published changes (as wide as 4 updates: counted as 4 each).
      for (const other of accepted) (sharedValueFraction(update, other), sharedValueFraction(other, update));
      for (let k = 0; k < 3; k++) for (const other of accepted) sharedValueFraction(update, other);
      copyMs += performance.now() - t0;
      // The recomputation check: the coordinator trains the task itself, compresses it as the miner does, compares.
      t0 = performance.now();
      const own = await trainLocally(cfg, 'cpu', base, subTokens, { steps, batchSize: B, seqLen: T, lr: fed.lr });
      const distance = weightChangeDistance(update, compressTaskUpdate(cfg, own!.update, { density, maxAbs: 3 * fed.lr * steps }).sent);
      if (!(distance <= fed.recomputeTolerance)) throw new Error(`the honest submission is ${distance} away from its recomputation`);
      recomputeMs += performance.now() - t0;
      t0 = performance.now();
      await meter.measure(
        base,
        pool,
        update,
        sub.rows,
        { shard: sub.address.shard, offset: sub.address.offset, length: steps * B * width },
        control,
      );
      scoreMs += performance.now() - t0;
    }
    await meter.dispose();
    decodeMs /= reps;
    copyMs /= reps;
    scoreMs /= reps;
    recomputeMs /= reps;
    const verifyMs = decodeMs + copyMs + recomputeMs + scoreMs;
    // Task rows: before, on the control and after; unassigned and held-out rows: after (their other losses are pooled).
    const rowsScored = 3 * Math.min(score.taskRows, steps * B) + score.unassignedRows + score.heldOutRows;
    console.log(`ailo-tiny (${paramCount(cfg)} params), task ${steps} steps x ${B}x${T}, density ${density}`);
    console.log(`bytes per submission: ${sub.bytes.length}`);
    console.log(
      `verification per submission: ${verifyMs.toFixed(0)} ms = decode ${decodeMs.toFixed(1)} + copy check ${copyMs.toFixed(1)} + recomputation ${recomputeMs.toFixed(0)} + scoring ${scoreMs.toFixed(0)} (${rowsScored} row forwards)`,
    );
    console.log(
      `the miner's training of the same task: ${trainMs.toFixed(0)} ms; verification / training = ${(verifyMs / trainMs).toFixed(2)}`,
    );
    console.log(
      `per model version, once: pools ${poolMs.toFixed(0)} ms (${pool.unassigned.length + pool.heldOut.length} rows) + ${fed.referenceTasks} reference tasks (about ${(fed.referenceTasks * (trainMs + scoreMs + controlMs)).toFixed(0)} ms: training, their controls' pool losses ${controlMs.toFixed(0)} ms each, scoring)`,
    );

    // ailo-1b by FLOPs: a forward pass costs ~2 x params per token, a training step ~6 x params per token.
    const big = presetConfig('ailo-1b');
    const P = paramCount(big);
    const T1 = 1024;
    const bigSteps = 64;
    const bigBatch = 8;
    const scoreFlops = rowsScored * T1 * 2 * P;
    const trainFlops = bigSteps * bigBatch * T1 * 6 * P;
    console.log(
      `ailo-1b (computed; a task of ${bigSteps} steps x ${bigBatch}x${T1}): scoring ${rowsScored} rows = ${(scoreFlops / 1e12).toFixed(0)} TFLOP ` +
        `vs the miner's ${(trainFlops / 1e12).toFixed(0)} TFLOP of training (${((scoreFlops / trainFlops) * 100).toFixed(0)}%); ` +
        `at 100 TFLOP/s achieved on one GPU: ${(scoreFlops / 1e14).toFixed(1)} s a submission, reference tasks ${((fed.referenceTasks * trainFlops) / 1e14 / 60).toFixed(1)} min a version; ` +
        `recomputing every submission would add the whole ${(trainFlops / 1e14 / 60).toFixed(1)} min of training (100% of the miners' compute), so at this size it has to be a sampled spot check`,
    );
  } finally {
    await rm(cache, { recursive: true, force: true });
  }
}
