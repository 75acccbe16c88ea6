// Trainer benchmarks: training tokens/s on cpu and webgpu (and PyTorch on the same config and batch when
// python3-torch is installed); for ailo-tiny and ailo-small, each training layout's speed and peak memory beside the
// planner's plan; and ailo-1b's plans (bench/ailo-1b.bench.ts trains it).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { paramCount, presetConfig, toHfConfigJson } from '../trainer/model/config.js';
import { formatBytes, settingsName, SETTINGS_BY_SPEED, trainingMemoryPlan, type TrainingSettings } from '../trainer/model/memory-plan.js';
import { findTorchPython, TORCH_SCRIPT } from '../trainer/reference/torch.js';

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
): Probe | undefined {
  const r = spawnSync(
    process.execPath,
    [tsx, join(root, 'trainer/training/step-probe.ts'), preset, provider, String(batch), String(seq), String(steps), s.layout, s.moments],
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

function torchTokensPerSecond(python: string, preset: string, batch: number, seq: number, steps: number): number | undefined {
  const cfgPath = join(tmpdir(), `ailo-bench-${preset}.json`);
  writeFileSync(cfgPath, JSON.stringify(toHfConfigJson(presetConfig(preset))));
  const r = spawnSync(python, [TORCH_SCRIPT, 'bench', cfgPath, String(batch), String(seq), String(steps), '2'], { encoding: 'utf8' });
  const m = /tokens_per_s (\S+)/.exec(r.stdout);
  return m ? Number(m[1]) : undefined;
}

export async function run(): Promise<void> {
  const python = findTorchPython();
  const tiny = { preset: 'ailo-tiny', batch: 8, seq: 64 };
  console.log(
    `training speed, ${tiny.preset} (${paramCount(presetConfig(tiny.preset)).toLocaleString('en-US')} params), batch ${tiny.batch}x${tiny.seq}, fused forward+backward+AdamW:`,
  );
  const cpu = probe(tiny.preset, 'cpu', tiny.batch, tiny.seq, 8);
  if (cpu) console.log(`  onnxruntime cpu:    ${cpu.tokensPerSecond.toFixed(0)} tokens/s (${cpu.msPerStep.toFixed(0)} ms/step)`);
  const gpu = probe(tiny.preset, 'webgpu', tiny.batch, tiny.seq, 3);
  if (gpu)
    console.log(
      `  onnxruntime webgpu: ${gpu.tokensPerSecond.toFixed(0)} tokens/s (${gpu.msPerStep.toFixed(0)} ms/step; lavapipe here: a CPU Vulkan, not a GPU)`,
    );
  if (python) {
    const t = torchTokensPerSecond(python, tiny.preset, tiny.batch, tiny.seq, 3);
    if (t)
      console.log(
        `  pytorch cpu (2 threads): ${t.toFixed(0)} tokens/s; onnxruntime cpu / pytorch = ${cpu ? (cpu.tokensPerSecond / t).toFixed(2) : 'n/a'}x`,
      );
    else console.log('  pytorch: failed to run');
  } else console.log('  pytorch: not installed (apt-get install python3-torch), no comparison');

  for (const c of [tiny, { preset: 'ailo-small', batch: 4, seq: 128 }]) {
    const cfg = presetConfig(c.preset);
    console.log(
      `\n${c.preset} (${paramCount(cfg).toLocaleString('en-US')} params), batch ${c.batch}x${c.seq}, cpu, each layout: speed, peak memory and the plan:`,
    );
    for (const settings of SETTINGS_BY_SPEED) {
      const s = probe(c.preset, 'cpu', c.batch, c.seq, 3, settings);
      if (!s) continue;
      const measured = s.maxRss - s.rssBefore;
      const plan = trainingMemoryPlan(cfg, c.batch, c.seq, settings).total;
      console.log(
        `  ${settingsName(settings).padEnd(26)} ${s.tokensPerSecond.toFixed(0).padStart(5)} tokens/s (${s.msPerStep.toFixed(0)} ms/step); ` +
          `peak ${formatBytes(measured)} above the process's start, plan ${formatBytes(plan)} (${((plan / measured - 1) * 100).toFixed(1)}%)`,
      );
    }
  }
  if (python && process.env.AILO_BENCH_TORCH_SMALL) {
    const t = torchTokensPerSecond(python, 'ailo-small', 4, 128, 2);
    if (t) console.log(`  pytorch cpu, ailo-small 4x128: ${t.toFixed(1)} tokens/s`);
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
          `AdamW moments ${formatBytes(plan.adamMoments)}, updated state ${formatBytes(plan.updatedState)}, activations ${formatBytes(plan.activations)}, head ${formatBytes(plan.head)}`,
      );
    }
  }
}
