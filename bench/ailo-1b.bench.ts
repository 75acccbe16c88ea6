// AILO-1B training on this machine's CPU (issue 14): the layout the miner's planner picks for the machine's memory
// (layer-wise with activation checkpointing, 8-bit AdamW moments where float32 ones do not fit), a few steps in a fresh
// process (trainer/training/step-probe.ts), with time per step, tokens a second, peak memory beside the plan, and model
// FLOPs utilisation against the matmul speed onnxruntime reaches here in the same run. Slow on 2 cores: not in CI.
// `npm run bench -- ailo-1b`; AILO_BENCH_SEQ sets the sequence length (default 128), AILO_BENCH_STEPS the timed steps.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { freemem, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { paramCount, presetConfig, toHfConfigJson } from '../trainer/model/config.js';
import { findTorchPython, torchBench } from '../trainer/reference/torch.js';
import { chooseTrainingSettings, formatBytes, settingsName } from '../trainer/model/memory-plan.js';
import { matmulFlops } from './matmul.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsx = createRequire(import.meta.url).resolve('tsx/cli');

export async function run(): Promise<void> {
  const cfg = presetConfig('ailo-1b');
  const P = paramCount(cfg);
  const seq = Number(process.env.AILO_BENCH_SEQ ?? 128);
  const steps = Number(process.env.AILO_BENCH_STEPS ?? 1);
  const budget = freemem();
  const choice = chooseTrainingSettings(cfg, 1, seq, budget);
  console.log(`ailo-1b (${P.toLocaleString('en-US')} params), batch 1x${seq}, cpu, ${formatBytes(budget)} available:`);
  if (!choice.fits) {
    console.log(`  does not fit: the smallest plan (${settingsName(choice.smallest)}) needs ${formatBytes(choice.smallest.total)}`);
    return;
  }
  const plan = choice.plan;
  console.log(`  the planner's choice: ${settingsName(plan)}, planned ${formatBytes(plan.total)}`);
  const flops = await matmulFlops('cpu', 1024, 8);
  console.log(`  onnxruntime matmul here (1024^3, float32): ${(flops / 1e9).toFixed(1)} GFLOP/s`);
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [tsx, join(root, 'trainer/training/step-probe.ts'), 'ailo-1b', 'cpu', '1', String(seq), String(steps), plan.layout, plan.moments],
    { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir() } },
  );
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) {
    console.log(`  failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
    return;
  }
  const p = JSON.parse(line) as { tokensPerSecond: number; msPerStep: number; maxRss: number; rssBefore: number; loss: number };
  const measured = p.maxRss - p.rssBefore;
  // Model FLOPs a token: 6 per parameter (forward and backward; Kaplan et al. 2020), not counting the recomputation.
  const modelFlops = 6 * P * p.tokensPerSecond;
  console.log(`  ${(p.msPerStep / 1000).toFixed(1)} s a step, ${p.tokensPerSecond.toFixed(2)} tokens/s, loss ${p.loss.toFixed(3)}`);
  console.log(
    `  peak memory ${formatBytes(p.maxRss)} (${formatBytes(measured)} above the process's start; plan ${formatBytes(plan.total)}, ${((plan.total / measured - 1) * 100).toFixed(1)}%)`,
  );
  console.log(
    `  model FLOPs utilisation: ${(modelFlops / 1e9).toFixed(1)} GFLOP/s of ${(flops / 1e9).toFixed(1)} = ${((100 * modelFlops) / flops).toFixed(1)}% ` +
      `(recomputing each block's forward adds a third more work than the model FLOPs count)`,
  );
  console.log(`  the whole run (weights, 2 warm-up and ${steps} timed steps): ${((performance.now() - t0) / 1000).toFixed(0)} s`);

  // The same model, batch and steps in PyTorch (float32 weights, gradients and AdamW moments: about 16 bytes a
  // parameter), on OpenBLAS where Debian's is installed. AILO_BENCH_TORCH=0 skips it.
  const python = process.env.AILO_BENCH_TORCH === '0' ? undefined : findTorchPython();
  if (!python) {
    console.log('  pytorch: not run (apt-get install python3-torch libopenblas0-pthread; AILO_BENCH_TORCH=0 skips it)');
    return;
  }
  const config = join(tmpdir(), 'ailo-bench-ailo-1b.json');
  writeFileSync(config, JSON.stringify(toHfConfigJson(cfg)));
  const t = torchBench(python, config, 1, seq, steps);
  if (!t) {
    console.log('  pytorch: failed to run');
    return;
  }
  console.log(
    `  pytorch cpu: ${t.tokensPerSecond.toFixed(2)} tokens/s, peak memory ${formatBytes(t.maxRss)} (${formatBytes(t.maxRss - t.rssBefore)} above the weights), BLAS ${t.blas}`,
  );
  console.log(
    `  onnxruntime / pytorch: speed ${(p.tokensPerSecond / t.tokensPerSecond).toFixed(2)}x, peak memory ${(p.maxRss / t.maxRss).toFixed(2)}x`,
  );
}
