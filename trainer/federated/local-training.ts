/**
 * A task trained on onnxruntime-node: the miners' own `trainTask` on a session opened for it (in the layout the miner's
 * planner picks) and closed after. What
 * the coordinator recomputes a submission with, and what the red team and the benches train with.
 */
import { freemem } from 'node:os';
import type { ModelConfig } from '../model/config.js';
import { settingsFor, type MomentFormat, type TrainingSettings } from '../model/memory-plan.js';
import type { Weights } from '../model/weights.js';
import type { Precision } from '../onnx/graphs.js';
import { nodeRuntime } from '../runtime/model-session.js';
import type { Provider } from '../runtime/provider.js';
import { TrainSession } from '../runtime/train-session.js';
import type { LocalTrainingTask } from './task-rows.js';
import { trainTask, type LocalTrainingResult, type TrainTaskHooks } from './train-task.js';

export { stepRows, taskTokenCount, type LocalTrainingTask } from './task-rows.js';

export interface LocalTrainingOptions extends TrainTaskHooks {
  /** The CUDA device index (cuda only). */
  deviceId?: number;
  /** Memory the session may plan for, bytes (default: what the OS reports available). */
  memoryBytes?: number;
  /** The AdamW moments' format, when it must be this one (a recomputation keeps the miner's); else the planner's. */
  moments?: MomentFormat;
  /** fp16: mixed precision (GPU providers only; see settingsFor). */
  precision?: Precision;
}

/**
 * `trainTask` on a fresh onnxruntime-node session on `provider` (cuda: device `o.deviceId`), in the fastest layout
 * whose memory plan fits (`settingsFor`: fused where there is room, layer-wise with checkpointing otherwise, as the
 * miner chooses). Throws a TrainerError OUT_OF_MEMORY naming what the task needs when no layout fits `o.memoryBytes`.
 */
export async function trainLocally(
  cfg: ModelConfig,
  provider: Provider,
  start: Weights,
  tokens: Uint16Array,
  task: LocalTrainingTask,
  o: LocalTrainingOptions = {},
): Promise<(LocalTrainingResult & { settings: TrainingSettings }) | undefined> {
  const shape = { batchSize: task.batchSize, seqLen: task.seqLen };
  const { settings } = settingsFor(cfg, shape, provider, o.memoryBytes ?? freemem(), o.moments, o.precision);
  const session = await TrainSession.open(nodeRuntime(provider, { deviceId: o.deviceId }), cfg, {
    batch: task.batchSize,
    seq: task.seqLen,
    layerwise: settings.layout === 'layerwise',
    moments: settings.moments,
    precision: settings.precision,
  });
  try {
    const result = await trainTask(session, start, tokens, task, o);
    return result && { ...result, settings };
  } finally {
    await session.dispose();
  }
}
