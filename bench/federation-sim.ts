// Federated rounds in one process, without HTTP: miners train on distinct task spans of the default corpus,
// send compressed (or dense) updates, the coordinator averages them and takes the outer step. Used by the
// federation bench to compare compressed against dense updates over the same rounds.
import { compressUpdate, matrixRowLengths, type TensorValues } from '../trainer/codec/compress.js';
import { decodeUpdate } from '../trainer/codec/update-codec.js';
import type { ShardSet } from '../trainer/corpus/shards.js';
import { batchRows, listBatchAddresses } from '../trainer/corpus/shards.js';
import { trainLocally } from '../trainer/federated/local-training.js';
import { federatedAverage, outerStep, type OuterOptimizerOptions } from '../trainer/federated/outer-optimizer.js';
import { numel, paramSpecs, type ModelConfig } from '../trainer/model/config.js';
import { initWeights, type Weights } from '../trainer/model/weights.js';
import { ForwardSession } from '../trainer/runtime/model-session.js';
import { tokenBatch } from '../trainer/runtime/tokens.js';

export interface SimOptions {
  cfg: ModelConfig;
  set: ShardSet;
  miners: number;
  rounds: number;
  steps: number;
  batchSize: number;
  seqLen: number;
  lr: number;
  density: number;
  encoding: 'q8' | 'dense';
  outer: OuterOptimizerOptions;
  feedback?: number;
}

export interface SimResult {
  heldLoss: number[];
  bytesPerSubmission: number;
  valuesPerSubmission: number;
  aggregateSeconds: number;
  aggregatedParams: number;
}

export async function simulateRounds(o: SimOptions): Promise<SimResult> {
  const sizes = new Map(paramSpecs(o.cfg).map((s) => [s.name, numel(s.shape)]));
  const rowLengths = matrixRowLengths(o.cfg);
  const tasks = listBatchAddresses(o.set.manifest, 'train', o.steps * o.batchSize, o.seqLen);
  const held = listBatchAddresses(o.set.manifest, 'eval', 4, o.seqLen)
    .slice(0, 4)
    .map((a) => tokenBatch(o.cfg, batchRows(o.set.readBatch(a))));
  const fs = new ForwardSession(o.cfg, 'cpu');
  const heldLoss = async (w: Weights): Promise<number> => {
    await fs.setWeights(w);
    let s = 0;
    for (const b of held) s += await fs.loss(b);
    return s / held.length;
  };
  let weights = initWeights(o.cfg, 1);
  let momentum: Weights | undefined;
  const residuals: (TensorValues | undefined)[] = new Array(o.miners).fill(undefined);
  const losses = [await heldLoss(weights)];
  let bytes = 0;
  let values = 0;
  let submissions = 0;
  let aggregateSeconds = 0;
  let aggregatedParams = 0;
  let next = 0;
  const maxAbs = 3 * o.lr * o.steps;
  for (let r = 0; r < o.rounds; r++) {
    const updates = [];
    for (let m = 0; m < o.miners; m++) {
      const a = tasks[next++ % tasks.length]!;
      const tokens = o.set.readTokens(a.shard, a.offset, a.batchSize * (a.seqLen + 1));
      const trained = await trainLocally(o.cfg, 'cpu', weights, tokens, {
        steps: o.steps,
        batchSize: o.batchSize,
        seqLen: o.seqLen,
        lr: o.lr,
      });
      const c = compressUpdate(trained!.update, residuals[m], {
        density: o.density,
        maxAbs,
        encoding: o.encoding,
        rowLengths,
        feedback: o.feedback,
      });
      residuals[m] = c.residual;
      bytes += c.bytes.length;
      values += c.values;
      submissions++;
      updates.push({ update: decodeUpdate(c.bytes, sizes), tokens: trained!.tokens });
    }
    const t0 = performance.now();
    const mean = federatedAverage(weights, updates);
    ({ weights, momentum } = outerStep(weights, momentum, mean, o.outer));
    aggregateSeconds += (performance.now() - t0) / 1000;
    aggregatedParams += updates.length * [...sizes.values()].reduce((a, b) => a + b, 0);
    losses.push(await heldLoss(weights));
  }
  await fs.dispose();
  return {
    heldLoss: losses,
    bytesPerSubmission: bytes / submissions,
    valuesPerSubmission: values / submissions,
    aggregateSeconds,
    aggregatedParams,
  };
}
