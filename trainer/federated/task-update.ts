/**
 * A task's update as every miner sends it (browser-safe): for a matrix, LOW_RANK factor pairs of its update, then
 * each tensor's top-k of what they leave, clipped to the task's bound and quantized to q8 (trainer/codec/compress.ts).
 *
 * No error feedback across tasks: a task is scored on its own rows against rows it was not given (the gauntlet), so
 * the unsent remainder of another task's update would count as training on other data, and a remainder from
 * another model version would be added to weights it was not computed on. Each task starts from an empty residual.
 */
import { compressUpdate, matrixRowLengths, type CompressedUpdate, type TensorValues } from '../codec/compress.js';
import { UPDATE_CODEC_VERSION } from '../codec/update-codec.js';
import type { ModelConfig } from '../model/config.js';
import type { SubmitAccepted } from '../../protocol/federation.js';

/** What a task says about the update it wants: the share of each tensor's values, and the bound on each value. */
export interface UpdateLimits {
  density: number;
  maxAbs: number;
}

/** Compresses `delta` (local minus start weights, in the model's parameter order) for a task with `limits`. */
export function compressTaskUpdate(cfg: ModelConfig, delta: TensorValues, limits: UpdateLimits): CompressedUpdate {
  return compressUpdate(delta, undefined, { density: limits.density, maxAbs: limits.maxAbs, rowLengths: matrixRowLengths(cfg) });
}

/** One log line with the node's measurement of an accepted update. */
export function measuredLine(m: SubmitAccepted['measured']): string {
  const f = (x: number): string => x.toFixed(3);
  return (
    `task loss ${f(m.taskLoss[0])} -> ${f(m.taskLoss[1])}, held-out ${f(m.heldOutLoss[0])} -> ${f(m.heldOutLoss[1])}, ` +
    `task-specific gain ${f(m.specificGain)} nats (${(m.workRatio * 100).toFixed(0)}% of a full task)`
  );
}

/**
 * Throws unless this build sends the update codec version a task asks for (`codecVersion` of the task). The message
 * says what to do: a miner built for another codec would have every submission refused as BAD_UPDATE.
 */
export function checkCodecVersion(task: { codecVersion?: number }): void {
  if (task.codecVersion !== UPDATE_CODEC_VERSION) {
    throw new Error(
      `the node asks for update codec v${task.codecVersion ?? '?'}, this miner sends v${UPDATE_CODEC_VERSION}: update the miner (git pull && npm ci) or reload the page`,
    );
  }
}
