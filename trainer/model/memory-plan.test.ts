/**
 * The memory planner against measured peaks: each layout and moment format of ailo-tiny and ailo-small trains in a
 * fresh process (trainer/training/step-probe.ts, real onnxruntime sessions on cpu), and its plan must be within 15% of
 * the process's peak resident memory above what it held before the model. Also the choice a miner makes from a budget.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { presetConfig } from './config.js';
import { TrainerErrorCode } from '../errors.js';
import {
  chooseTrainingSettings,
  memoryNeeded,
  settingsFor,
  SETTINGS_BY_SPEED,
  trainingMemoryPlan,
  type TrainingSettings,
} from './memory-plan.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsx = createRequire(import.meta.url).resolve('tsx/cli');
const execFileAsync = promisify(execFile);

/**
 * Peak bytes above the process's start, of `steps` steps (after two warm-up steps) in a fresh process. Asynchronous:
 * a probe takes up to a minute under load, and a blocked test worker misses vitest's calls.
 */
async function measuredPeak(preset: string, batch: number, seq: number, s: TrainingSettings): Promise<number> {
  const args = [tsx, join(root, 'trainer/training/step-probe.ts'), preset, 'cpu', String(batch), String(seq), '1', s.layout, s.moments];
  const r = await execFileAsync(process.execPath, [...args, s.precision ?? 'fp32'], { encoding: 'utf8', maxBuffer: 1 << 20 }).catch(
    (err: { stderr?: string }) => {
      throw new Error(`the probe failed: ${err.stderr ?? String(err)}`);
    },
  );
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`the probe printed no result: ${r.stderr}`);
  const j = JSON.parse(line) as { maxRss: number; rssBefore: number };
  return j.maxRss - j.rssBefore;
}

describe('memory plan', () => {
  // The peak of a run moves with when V8 collects the arrays a step let go (ailo-tiny's by up to 15% between runs), so
  // ailo-tiny is measured three times and its highest peak taken.
  // ailo-tiny at two shapes, so that what grows with the tokens is checked (at 8x128 the layer-wise plan was 18-24% over
  // when it counted two [N, V] tensors in the head). Smaller shapes peak below 250 MiB, where V8's collections move a
  // peak by more than 15% between runs.
  it.each([
    ['ailo-tiny', 8, 64, 3],
    ['ailo-tiny', 8, 128, 3],
    ['ailo-small', 4, 128, 1],
  ] as const)(
    'plans %s (batch %ix%i) within 15%% of the highest of %i measured peaks, in every layout (and the recomputation of a mixed-precision task)',
    async (preset, batch, seq, runs) => {
      const cfg = presetConfig(preset);
      for (const s of [...SETTINGS_BY_SPEED, { layout: 'fused', moments: 'float32', precision: 'fp16-emulated' } as const]) {
        const plan = trainingMemoryPlan(cfg, batch, seq, s).total;
        const peaks: number[] = [];
        for (let i = 0; i < runs; i++) peaks.push(await measuredPeak(preset, batch, seq, s));
        const measured = Math.max(...peaks);
        expect(
          Math.abs(plan / measured - 1),
          `${s.layout} ${s.moments} ${s.precision ?? ''}: plan ${plan}, measured ${measured}`,
        ).toBeLessThan(0.15);
      }
    },
    180_000,
  );

  it("counts ailo-1b's weights, gradients and AdamW state from the parameter count, per layout", () => {
    const cfg = presetConfig('ailo-1b');
    const P = 821_470_400;
    const fused = trainingMemoryPlan(cfg, 1, 1024);
    expect(fused.params).toBe(P);
    expect(fused.adamMoments).toBe(8 * P);
    expect(fused.total).toBeGreaterThan(fused.weights + fused.gradients + fused.adamMoments + fused.activations);
    const layerwise = trainingMemoryPlan(cfg, 1, 1024, { layout: 'layerwise', moments: 'float32' });
    const int8 = trainingMemoryPlan(cfg, 1, 1024, { layout: 'layerwise', moments: 'int8' });
    expect(layerwise.total).toBeLessThan(fused.total / 2);
    expect(int8.adamMoments).toBeLessThan(2.01 * P);
    // What the issue asks of this machine: ailo-1b at 1x1024 in at most 16 GiB, with the planner's headroom.
    expect(memoryNeeded(int8)).toBeLessThan(16 * 2 ** 30);
  });

  it('chooses the fastest settings that fit the budget with the headroom to spare, and says how much the smallest needs when none does', () => {
    const cfg = presetConfig('ailo-1b');
    const plans = SETTINGS_BY_SPEED.map((s) => trainingMemoryPlan(cfg, 1, 1024, s));
    expect(chooseTrainingSettings(cfg, 1, 1024, memoryNeeded(plans[0]!))).toMatchObject({ fits: true, plan: { layout: 'fused' } });
    // A budget the plan fits, but not with its headroom (the +3.3% of bench run 9 went past the budget): the next settings.
    expect(chooseTrainingSettings(cfg, 1, 1024, plans[1]!.total)).toMatchObject({ fits: true, plan: { moments: 'int8' } });
    expect(chooseTrainingSettings(cfg, 1, 1024, memoryNeeded(plans[0]!) - 1)).toMatchObject({
      fits: true,
      plan: { layout: 'layerwise', moments: 'float32' },
    });
    expect(chooseTrainingSettings(cfg, 1, 1024, 14 * 2 ** 30)).toMatchObject({
      fits: true,
      plan: { layout: 'layerwise', moments: 'int8' },
    });
    const none = chooseTrainingSettings(cfg, 1, 1024, 8 * 2 ** 30);
    expect(none).toMatchObject({ fits: false, smallest: { layout: 'layerwise', moments: 'int8' } });
  });

  it('mixed precision: fp16 on cuda only, refused elsewhere saying why; its recomputation on the cpu emulates it where fused fits', () => {
    const cfg = presetConfig('ailo-tiny');
    const shape = { batchSize: 4, seqLen: 32 };
    expect(settingsFor(cfg, shape, 'cuda', 2 ** 30, undefined, 'fp16').settings).toEqual({
      layout: 'fused',
      moments: 'float32',
      precision: 'fp16',
    });
    const refused = (provider: string): unknown => {
      try {
        settingsFor(cfg, shape, provider, 2 ** 30, undefined, 'fp16');
      } catch (err) {
        return err;
      }
    };
    expect(refused('webgpu')).toMatchObject({
      code: TrainerErrorCode.BAD_ARGUMENT,
      message: expect.stringMatching(/sums float16 products in float16/),
    });
    expect(refused('cpu')).toMatchObject({
      code: TrainerErrorCode.BAD_ARGUMENT,
      message: expect.stringMatching(/computes float16 products in float32/),
    });
    const emulated = trainingMemoryPlan(cfg, 4, 32, { layout: 'fused', moments: 'float32', precision: 'fp16-emulated' });
    expect(emulated.total).toBeGreaterThan(trainingMemoryPlan(cfg, 4, 32).total);
    expect(settingsFor(cfg, shape, 'cpu', memoryNeeded(emulated), undefined, 'fp16-emulated').settings).toMatchObject({
      layout: 'fused',
      precision: 'fp16-emulated',
    });
    // Short of memory for it: a float32 layout, as for any other task (layer-wise graphs have no emulation).
    const short = settingsFor(cfg, shape, 'cpu', memoryNeeded(emulated) - 1, undefined, 'fp16-emulated').settings;
    expect(short.precision ?? 'fp32').toBe('fp32');
    expect(() => trainingMemoryPlan(cfg, 4, 32, { layout: 'layerwise', moments: 'float32', precision: 'fp16' })).toThrow(
      /fused layout only/,
    );
  });
});
