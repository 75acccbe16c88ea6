/**
 * The one step loop both miners train a task with (`trainTask` over a `TrainSession`): it reuses a session across
 * tasks, frees the training state when it returns (a stop and a diverged training included), and leaves judging a
 * non-finite loss to its caller.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelConfig } from '../model/config.js';
import { initWeights } from '../model/weights.js';
import { nodeRuntime } from '../runtime/model-session.js';
import { TrainSession } from '../runtime/train-session.js';
import { taskTokenCount, type LocalTrainingTask } from './task-rows.js';
import { nextRunSteps, trainTask } from './train-task.js';

const cfg: ModelConfig = { vocab_size: 53, n_positions: 16, n_embd: 16, n_layer: 2, n_head: 4, n_inner: 32, layer_norm_epsilon: 1e-5 };
const task: LocalTrainingTask = { steps: 3, batchSize: 2, seqLen: 8, lr: 1e-2 };
const tokens = Uint16Array.from({ length: taskTokenCount(task) }, (_, i) => (i * 7 + 3) % 53);

describe('trainTask', () => {
  let session: TrainSession;
  beforeAll(async () => {
    session = await TrainSession.open(nodeRuntime('cpu'), cfg, { batch: task.batchSize, seq: task.seqLen });
  });
  afterAll(() => session.dispose());

  it('trains a task twice on one session with the same result, and frees the state after each', async () => {
    const start = initWeights(cfg, 1);
    const a = (await trainTask(session, start, tokens, task))!;
    expect(session.paramTensors().size).toBe(0);
    const b = (await trainTask(session, start, tokens, task))!;
    expect(a.losses).toHaveLength(3);
    expect(a.losses.every(Number.isFinite)).toBe(true);
    expect(b.losses).toEqual(a.losses);
    for (const [name, u] of a.update) expect(b.update.get(name)).toEqual(u);
    expect(session.paramTensors().size).toBe(0);
  });

  it('stops before a step when asked, freeing the state; refuses tokens of the wrong length', async () => {
    let steps = 0;
    const stopped = await trainTask(session, initWeights(cfg, 1), tokens, task, {
      onStep: () => void steps++,
      shouldStop: () => steps >= 1,
    });
    expect(stopped).toBeUndefined();
    expect(steps).toBe(1);
    expect(session.paramTensors().size).toBe(0);
    await expect(trainTask(session, initWeights(cfg, 1), tokens.subarray(1), task)).rejects.toThrow(/needs 54 tokens/);
  });

  it('returns a diverged training (non-finite loss) for its caller to judge instead of throwing', async () => {
    const broken = initWeights(cfg, 1);
    broken.get('ln_f.weight')!.fill(Number.NaN);
    const r = (await trainTask(session, broken, tokens, task))!;
    expect(r.losses.some((l) => !Number.isFinite(l))).toBe(true);
    expect(session.paramTensors().size).toBe(0);
  });

  it('refuses a runMs that is not a finite number of ms above 0', async () => {
    for (const runMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      await expect(trainTask(session, initWeights(cfg, 1), tokens, task, { runMs })).rejects.toThrow(
        /runMs is a run's length in ms, above 0/,
      );
  });
});

describe('nextRunSteps: runs of about runMs when a run costs a fixed part O plus S a step', () => {
  /** The runs' sizes for `runs` runs, each taking O + n S ms. */
  const sizes = (O: number, S: number, runMs: number, runs = 12): number[] => {
    const out: number[] = [];
    let last: { steps: number; ms: number } | undefined;
    for (let i = 0; i < runs; i++) {
      const n = nextRunSteps(runMs, last);
      out.push(n);
      last = { steps: n, ms: O + n * S };
    }
    return out;
  };
  it('grows past one step even when the fixed part is over half of runMs, and settles where a run takes about runMs', () => {
    // 10 steps fit in 50 ms at O = 30, S = 2; 6 at O = 20, S = 5.
    expect(sizes(30, 2, 50).slice(-3)).toEqual([10, 10, 10]);
    expect(sizes(20, 5, 50).slice(-3)).toEqual([6, 6, 6]);
    // No fixed part: from one step to runMs / S at once.
    expect(sizes(0, 5, 50)).toEqual([1, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10]);
  });
  it('shrinks a run that took too long, to one step at least; a run of no measurable time is not divided by', () => {
    expect(nextRunSteps(50, { steps: 20, ms: 200 })).toBe(5);
    expect(nextRunSteps(50, { steps: 1, ms: 500 })).toBe(1);
    expect(nextRunSteps(50, { steps: 3, ms: 0 })).toBe(Number.POSITIVE_INFINITY);
  });
});
