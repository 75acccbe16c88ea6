/**
 * The memory planner against measured peaks: each layout and moment format of ailo-tiny and ailo-small trains in a
 * fresh process (trainer/training/step-probe.ts, real onnxruntime sessions on cpu), and its plan must be within 15% of
 * the process's peak resident memory above what it held before the model. Also the choice a miner makes from a budget.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { presetConfig } from './config.js';
import { chooseTrainingSettings, SETTINGS_BY_SPEED, trainingMemoryPlan, type TrainingSettings } from './memory-plan.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsx = createRequire(import.meta.url).resolve('tsx/cli');

/** Peak bytes above the process's start, of `steps` steps (after two warm-up steps) in a fresh process. */
function measuredPeak(preset: string, batch: number, seq: number, s: TrainingSettings): number {
  const r = spawnSync(
    process.execPath,
    [tsx, join(root, 'trainer/training/step-probe.ts'), preset, 'cpu', String(batch), String(seq), '1', s.layout, s.moments],
    { encoding: 'utf8' },
  );
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) throw new Error(`the probe failed: ${r.stderr}`);
  const j = JSON.parse(line) as { maxRss: number; rssBefore: number };
  return j.maxRss - j.rssBefore;
}

describe('memory plan', () => {
  // The peak of a run moves with when V8 collects the arrays a step let go (ailo-tiny's by up to 15% between runs), so
  // ailo-tiny is measured three times and its highest peak taken.
  it.each([
    ['ailo-tiny', 8, 64, 3],
    ['ailo-small', 4, 128, 1],
  ] as const)(
    'plans %s (batch %ix%i) within 15%% of the highest of %i measured peaks, in every layout',
    (preset, batch, seq, runs) => {
      const cfg = presetConfig(preset);
      for (const s of SETTINGS_BY_SPEED) {
        const plan = trainingMemoryPlan(cfg, batch, seq, s).total;
        const measured = Math.max(...Array.from({ length: runs }, () => measuredPeak(preset, batch, seq, s)));
        expect(Math.abs(plan / measured - 1), `${s.layout} ${s.moments}: plan ${plan}, measured ${measured}`).toBeLessThan(0.15);
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
    // What the issue asks of this machine: ailo-1b at 1x1024 in at most 16 GiB.
    expect(int8.total).toBeLessThan(16 * 2 ** 30);
  });

  it('chooses the fastest settings that fit the budget, and says how much the smallest needs when none does', () => {
    const cfg = presetConfig('ailo-1b');
    const plans = SETTINGS_BY_SPEED.map((s) => trainingMemoryPlan(cfg, 1, 1024, s));
    expect(chooseTrainingSettings(cfg, 1, 1024, plans[0]!.total)).toMatchObject({ fits: true, plan: { layout: 'fused' } });
    expect(chooseTrainingSettings(cfg, 1, 1024, plans[0]!.total - 1)).toMatchObject({
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
});
