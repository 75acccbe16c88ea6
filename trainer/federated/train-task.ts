/**
 * A miner's work on one task, on any training session (native or browser): `task.steps` AdamW steps from the
 * version's weights over exactly the task's tokens (row-major rows of seqLen + 1 ids, `batchSize` rows per step),
 * returning the update (local minus start weights). Browser-safe.
 */
import { weightDeltaInPlace, type Weights } from '../model/weights.js';
import type { TrainSession } from '../runtime/train-session.js';
import { tokenBatch } from '../runtime/tokens.js';
import { stepRows, taskTokenCount, type LocalTrainingTask } from './task-rows.js';

export interface LocalStepReport {
  /** 1-based. */
  step: number;
  /** The step's mean cross-entropy, nats. */
  loss: number;
  /** Tokens (positions) the step trained on: batchSize x seqLen. */
  tokens: number;
  /**
   * The time the step took, ms: its run's, shared evenly among the run's steps where a session takes many a run (the
   * hooks' own time, such as a miner's rests, excluded).
   */
  ms: number;
}

export interface LocalTrainingResult {
  /** Local minus start weights, by parameter, in the start weights' order. */
  update: Weights;
  losses: number[];
  tokens: number;
}

export interface TrainTaskHooks {
  /**
   * After each step (where a session takes many steps a run, after the run, for each); a returned promise is awaited
   * before the next run (the miner rests there).
   */
  onStep?: (r: LocalStepReport) => void | Promise<void>;
  /** Asked before each run of steps: true stops the training (the result is then undefined). */
  shouldStop?: () => boolean;
  /**
   * How long a run of steps should last, ms (finite, above 0), where the session takes many steps a run (fused in a
   * Loop, cuda): a session's first run takes one step, each later one as many as `nextRunSteps` says from the last
   * run, so that stops, rests and health checks come at about this interval. Absent: a run takes every step left.
   */
  runMs?: number;
}

/** Each session's last run (kept from task to task, so that a task does not start again from runs of one step). */
const lastRuns = new WeakMap<TrainSession, { steps: number; ms: number }>();

/**
 * Steps for the next run to last about `runMs`, from the last run's `steps` and its time `ms` (a run costs a fixed
 * part, moving the state to the device and back, plus a part a step): one step when nothing was measured yet; one
 * more than the last run at least while the last run was shorter than `runMs` (so a fixed part larger than half of
 * `runMs` does not keep runs at one step); else the last run's steps scaled by `runMs / ms`, at least one.
 */
export function nextRunSteps(runMs: number, last: { steps: number; ms: number } | undefined): number {
  if (!last) return 1;
  const scaled = last.ms > 0 ? Math.floor((last.steps * runMs) / last.ms) : Infinity;
  return last.ms < runMs ? Math.max(last.steps + 1, scaled) : Math.max(1, scaled);
}

/**
 * Trains `session` (its shape must be the task's batchSize x seqLen) from `start` on `tokens`, which hold exactly
 * `taskTokenCount(task)` ids (else RangeError). Undefined when `shouldStop` said so before the last step. A loss that
 * is not finite (the training diverged) is returned as it is, for the caller to judge (a miner does not submit it; a
 * coordinator's recomputation then matches no update). The session's training state is freed before it returns.
 */
export async function trainTask(
  session: TrainSession,
  start: Weights,
  tokens: Uint16Array,
  task: LocalTrainingTask,
  hooks: TrainTaskHooks = {},
): Promise<LocalTrainingResult | undefined> {
  if (hooks.runMs !== undefined && !(hooks.runMs > 0 && Number.isFinite(hooks.runMs)))
    throw new RangeError(`runMs is a run's length in ms, above 0, not ${hooks.runMs}`);
  // No steps would hand back the start weights themselves as the trained ones, and the update is computed in them.
  if (!(Number.isInteger(task.steps) && task.steps >= 1)) throw new RangeError(`a task has at least one step, this one ${task.steps}`);
  if (tokens.length !== taskTokenCount(task)) {
    throw new RangeError(
      `the task needs ${taskTokenCount(task)} tokens (${task.steps} steps of ${task.batchSize}x${task.seqLen + 1}), got ${tokens.length}`,
    );
  }
  try {
    await session.start(start);
    const losses: number[] = [];
    // As many steps a run as the session takes (a fused session in a Loop: all of them, its state on the device), or
    // as fit in hooks.runMs.
    for (let s = 0; s < task.steps;) {
      if (hooks.shouldStop?.()) return undefined;
      const fit = hooks.runMs === undefined ? Infinity : nextRunSteps(hooks.runMs, lastRuns.get(session));
      const n = Math.min(session.stepsPerRun, fit, task.steps - s);
      const batches = Array.from({ length: n }, (_, k) => tokenBatch(session.cfg, stepRows(tokens, task, s + k)));
      const t0 = performance.now();
      const results = await session.stepMany(batches, task.lr);
      const runMs = performance.now() - t0;
      lastRuns.set(session, { steps: results.length, ms: runMs });
      const ms = runMs / results.length;
      for (const { loss } of results) {
        losses.push(loss);
        s++;
        await hooks.onStep?.({ step: s, loss, tokens: task.batchSize * task.seqLen, ms });
      }
    }
    // The parameters taken from the session become the update: at ailo-1b a copy and a separate delta would add 6.6 GB
    // beside the moments, more than a step's own peak.
    return { update: weightDeltaInPlace(start, await session.takeWeights()), losses, tokens: task.steps * task.batchSize * task.seqLen };
  } finally {
    // Weights and moments (three copies of the model, in GPU buffers on webgpu) are not kept while the miner rests or
    // downloads the next version; the session's graph is.
    session.release();
  }
}
