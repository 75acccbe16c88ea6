/**
 * A miner's work on one task: `steps` AdamW steps from the version's weights over exactly the task's tokens
 * (row-major rows of seqLen + 1 ids, `batchSize` rows per step), returning the update (local minus start weights).
 */
import type { ModelConfig } from '../model/config.js';
import { weightDelta, type Weights } from '../model/weights.js';
import { TrainSession } from '../runtime/model-session.js';
import type { Provider } from '../runtime/provider.js';
import { tokenBatch } from '../runtime/tokens.js';
import { stepRows, taskTokenCount, type LocalTrainingTask } from './task-rows.js';

export { stepRows, taskTokenCount, type LocalTrainingTask } from './task-rows.js';

export interface LocalStepReport {
  step: number;
  loss: number;
  tokens: number;
}

export interface LocalTrainingResult {
  update: Weights;
  losses: number[];
  tokens: number;
}

export async function trainLocally(
  cfg: ModelConfig,
  provider: Provider,
  start: Weights,
  tokens: Uint16Array,
  task: LocalTrainingTask,
  hooks: { onStep?: (r: LocalStepReport) => void | Promise<void>; shouldStop?: () => boolean; deviceId?: number } = {},
): Promise<LocalTrainingResult | undefined> {
  if (tokens.length !== taskTokenCount(task)) {
    throw new RangeError(
      `the task needs ${taskTokenCount(task)} tokens (${task.steps} steps of ${task.batchSize}x${task.seqLen + 1}), got ${tokens.length}`,
    );
  }
  const session = await TrainSession.create(cfg, provider, {
    batch: task.batchSize,
    seq: task.seqLen,
    weights: start,
    deviceId: hooks.deviceId,
  });
  try {
    const losses: number[] = [];
    for (let s = 0; s < task.steps; s++) {
      if (hooks.shouldStop?.()) return undefined;
      const { loss } = await session.step(tokenBatch(cfg, stepRows(tokens, task, s)), task.lr);
      losses.push(loss);
      await hooks.onStep?.({ step: s + 1, loss, tokens: task.batchSize * task.seqLen });
    }
    const update = weightDelta(start, await session.weights());
    return { update, losses, tokens: task.steps * task.batchSize * task.seqLen };
  } finally {
    await session.dispose();
  }
}
