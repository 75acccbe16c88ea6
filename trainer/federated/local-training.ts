/**
 * A task trained on onnxruntime-node: the miners' own `trainTask` on a session opened for it and closed after. What
 * the coordinator recomputes a submission with, and what the red team and the benches train with.
 */
import type { ModelConfig } from '../model/config.js';
import type { Weights } from '../model/weights.js';
import { nodeRuntime } from '../runtime/model-session.js';
import type { Provider } from '../runtime/provider.js';
import { TrainSession } from '../runtime/train-session.js';
import type { LocalTrainingTask } from './task-rows.js';
import { trainTask, type LocalTrainingResult, type TrainTaskHooks } from './train-task.js';

export { stepRows, taskTokenCount, type LocalTrainingTask } from './task-rows.js';

/** `trainTask` on a fresh onnxruntime-node session on `provider` (cuda: device `hooks.deviceId`). */
export async function trainLocally(
  cfg: ModelConfig,
  provider: Provider,
  start: Weights,
  tokens: Uint16Array,
  task: LocalTrainingTask,
  hooks: TrainTaskHooks & { deviceId?: number } = {},
): Promise<LocalTrainingResult | undefined> {
  const session = await TrainSession.open(nodeRuntime(provider, { deviceId: hooks.deviceId }), cfg, {
    batch: task.batchSize,
    seq: task.seqLen,
  });
  try {
    return await trainTask(session, start, tokens, task, hooks);
  } finally {
    await session.dispose();
  }
}
