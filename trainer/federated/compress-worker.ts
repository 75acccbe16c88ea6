/**
 * The worker thread of compress-off-thread.ts: compresses a task's dense update as ailo-miner does
 * (`compressTaskUpdate`) and posts back the encoded bytes and what a receiver decodes, their buffers transferred.
 */
import { parentPort } from 'node:worker_threads';
import type { ModelConfig } from '../model/config.js';
import { compressTaskUpdate } from './task-update.js';
import type { ModelUpdate } from '../codec/update-codec.js';
import { collectGarbage } from '../runtime/collect-garbage.js';

interface Job {
  id: number;
  cfg: ModelConfig;
  tensors: [string, Float32Array][];
  limits: { density: number; maxAbs: number };
}

/** Every buffer `sent` holds, once each. */
function buffersOf(sent: ModelUpdate): ArrayBuffer[] {
  const all = new Set<ArrayBuffer>();
  for (const t of sent) {
    for (const a of [t.indices, t.values, ...(t.lowRank ?? []).flatMap((f) => [f.u, f.v])]) if (a) all.add(a.buffer as ArrayBuffer);
  }
  return [...all];
}

parentPort!.on('message', (job: Job) => {
  try {
    const { sent, bytes } = compressTaskUpdate(job.cfg, new Map(job.tensors), job.limits);
    parentPort!.postMessage({ id: job.id, sent, bytes }, [...buffersOf(sent), bytes.buffer as ArrayBuffer]);
  } catch (err) {
    parentPort!.postMessage({ id: job.id, error: (err as Error).message ?? String(err) });
  }
  // The job's arrays (the dense update: gigabytes on ailo-1b) are garbage now; an idle thread would not collect them.
  job.tensors.length = 0;
  setImmediate(collectGarbage);
});
