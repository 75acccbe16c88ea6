// Trainer benchmarks: training tokens/s and peak memory on cpu (and webgpu) against PyTorch on the same config and
// batch when python3-torch is installed (made to run on OpenBLAS when Debian's is installed, and saying which BLAS it
// ran on); for ailo-tiny and ailo-small, each training layout's speed and peak memory beside the planner's plan; and
// ailo-1b's plans (bench/ailo-1b.bench.ts trains it, against PyTorch too). The fused layout is also timed with a task's
// steps in one run (the ONNX Loop cuda trains with).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { paramCount, presetConfig, toHfConfigJson } from '../trainer/model/config.js';
import { formatBytes, settingsName, SETTINGS_BY_SPEED, trainingMemoryPlan, type TrainingSettings } from '../trainer/model/memory-plan.js';
import { findTorchPython, openBlasDir, torchBench } from '../trainer/reference/torch.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsx = createRequire(import.meta.url).resolve('tsx/cli');

interface Probe {
  tokensPerSecond: number;
  msPerStep: number;
  rssBefore: number;
  maxRss: number;
}

function probe(
  preset: string,
  provider: string,
  batch: number,
  seq: number,
  steps: number,
  s: TrainingSettings = SETTINGS_BY_SPEED[0]!,
  /** 'loop': the fused layout with a task's steps in one run (an ONNX Loop, what cuda trains with). */
  layout: string = s.layout,
): Probe | undefined {
  const r = spawnSync(
    process.execPath,
    [tsx, join(root, 'trainer/training/step-probe.ts'), preset, provider, String(batch), String(seq), String(steps), layout, s.moments],
    {
      encoding: 'utf8',
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir() },
    },
  );
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) {
    console.log(`  ${preset} ${provider}: failed (${r.stderr.trim().split('\n').pop()})`);
    return undefined;
  }
  return JSON.parse(line) as Probe;
}

/** The config's Hugging Face JSON in a temporary file, for PyTorch. */
function hfConfigFile(preset: string): string {
  const path = join(tmpdir(), `ailo-bench-${preset}.json`);
  writeFileSync(path, JSON.stringify(toHfConfigJson(presetConfig(preset))));
  return path;
}

const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;

export async function run(): Promise<void> {
  const python = findTorchPython();
  const configs = [
    { preset: 'ailo-tiny', batch: 8, seq: 128, steps: 6 },
    { preset: 'ailo-small', batch: 4, seq: 128, steps: 3 },
  ];
  console.log('training speed and peak memory, fused forward+backward+AdamW, against PyTorch on the same config, batch and 2 threads:');
  if (!python) console.log('  pytorch: not installed (apt-get install python3-torch libopenblas0-pthread), no comparison');
  else if (!openBlasDir())
    console.log('  pytorch: OpenBLAS is not installed (apt-get install libopenblas0-pthread): torch runs on the reference BLAS');
  for (const c of configs) {
    console.log(`  ${c.preset} (${paramCount(presetConfig(c.preset)).toLocaleString('en-US')} params), batch ${c.batch}x${c.seq}:`);
    const cpu = probe(c.preset, 'cpu', c.batch, c.seq, c.steps);
    if (cpu)
      console.log(
        `    onnxruntime cpu:    ${cpu.tokensPerSecond.toFixed(0).padStart(5)} tokens/s (${cpu.msPerStep.toFixed(0)} ms/step), peak ${formatBytes(cpu.maxRss)} (${formatBytes(cpu.maxRss - cpu.rssBefore)} above the start)`,
      );
    // Where a Vulkan device is present; lavapipe (Mesa's CPU Vulkan) on a machine without a GPU, whose device memory is
    // host memory, so the peak is the process's.
    const gpu = probe(c.preset, 'webgpu', c.batch, c.seq, 2);
    if (gpu)
      console.log(
        `    onnxruntime webgpu: ${gpu.tokensPerSecond.toFixed(0).padStart(5)} tokens/s (${gpu.msPerStep.toFixed(0)} ms/step), peak ${formatBytes(gpu.maxRss)} (${formatBytes(gpu.maxRss - gpu.rssBefore)} above the start)`,
      );
    const t = python ? torchBench(python, hfConfigFile(c.preset), c.batch, c.seq, c.steps) : undefined;
    if (t) {
      console.log(
        `    pytorch cpu:        ${t.tokensPerSecond.toFixed(0).padStart(5)} tokens/s, peak ${formatBytes(t.maxRss)} (${formatBytes(t.maxRss - t.rssBefore)} above the weights), BLAS ${t.blas}`,
      );
      if (cpu)
        console.log(
          `    onnxruntime / pytorch: speed ${ratio(cpu.tokensPerSecond, t.tokensPerSecond)}, peak memory ${ratio(cpu.maxRss, t.maxRss)}`,
        );
    } else if (python) console.log('    pytorch: failed to run');
  }

  for (const c of configs) {
    const cfg = presetConfig(c.preset);
    console.log(
      `\n${c.preset} (${paramCount(cfg).toLocaleString('en-US')} params), batch ${c.batch}x${c.seq}, cpu, each layout: speed, peak memory and the plan:`,
    );
    // The fused layout once more with the task's steps in one run (cuda's Loop; its steps timed by their run, as the
    // others' are), against the fused layout's plan.
    const rows: { settings: TrainingSettings; layout: string; name: string }[] = SETTINGS_BY_SPEED.map((settings) => ({
      settings,
      layout: settings.layout,
      name: settingsName(settings),
    }));
    rows.splice(1, 0, { settings: SETTINGS_BY_SPEED[0]!, layout: 'loop', name: 'fused, one run (Loop)' });
    for (const { settings, layout, name } of rows) {
      const s = probe(c.preset, 'cpu', c.batch, c.seq, 3, settings, layout);
      if (!s) continue;
      const measured = s.maxRss - s.rssBefore;
      const plan = trainingMemoryPlan(cfg, c.batch, c.seq, settings).total;
      console.log(
        `  ${name.padEnd(26)} ${s.tokensPerSecond.toFixed(0).padStart(5)} tokens/s (${s.msPerStep.toFixed(0)} ms/step); ` +
          `peak ${formatBytes(measured)} above the process's start, plan ${formatBytes(plan)} (${((plan / measured - 1) * 100).toFixed(1)}%)`,
      );
    }
  }

  const big = presetConfig('ailo-1b');
  for (const seq of [1024, 2048]) {
    console.log(
      `\nailo-1b memory plans, batch 1x${seq} (${paramCount(big).toLocaleString('en-US')} params; \`npm run bench -- ailo-1b\` trains it):`,
    );
    for (const settings of SETTINGS_BY_SPEED) {
      const plan = trainingMemoryPlan(big, 1, seq, settings);
      console.log(
        `  ${settingsName(settings).padEnd(26)} total ${formatBytes(plan.total)}: weights ${formatBytes(plan.weights)}, gradients ${formatBytes(plan.gradients)}, ` +
          `AdamW moments ${formatBytes(plan.adamMoments)}, updated state ${formatBytes(plan.updatedState)}, activations ${formatBytes(plan.activations)}, head ${formatBytes(plan.head)}, onnxruntime ${formatBytes(plan.runtime)}`,
      );
    }
  }
}
