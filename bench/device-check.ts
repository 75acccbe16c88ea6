// The device check for a machine with an NVIDIA GPU (issue 14): `npx tsx bench/device-check.ts`. It reports what it
// finds (the driver and GPUs by nvidia-smi, the CUDA and cuDNN libraries, onnxruntime's CUDA provider, the Vulkan
// loader and devices), then, on every GPU provider that loads (cuda; webgpu on a Vulkan device that is not a CPU
// rasterizer), measures onnxruntime's matmul speed and times an ailo-1b training step (fused layout, its state on the
// device: on cuda a run of 4 steps in an ONNX Loop; 1x1024 unless AILO_CHECK_SEQ says otherwise), printing tokens a
// second and model FLOPs utilisation. Every
// part has a time limit so the whole check ends within 8 minutes; on a machine without an NVIDIA GPU it says so and
// ends at once.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cudaInstalled, webgpuWorks } from '../trainer/miner/provider-choice.js';
import { paramCount, presetConfig } from '../trainer/model/config.js';
import type { Provider } from '../trainer/runtime/provider.js';
import { matmulFlops } from './matmul.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsx = createRequire(import.meta.url).resolve('tsx/cli');
const started = Date.now();
/** The whole check's budget; each training step gets what is left, less a margin. */
const BUDGET_MS = 8 * 60_000 - 20_000;

function run(cmd: string, args: string[], timeout = 20_000): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/** Shared libraries the dynamic linker knows, by name prefix (ldconfig -p). */
function libraries(prefixes: string[]): string[] {
  const r = run('ldconfig', ['-p']);
  if (!r.ok) return [];
  return r.out
    .split('\n')
    .map((l) => l.trim().split(' ')[0] ?? '')
    .filter((name) => prefixes.some((p) => name.startsWith(p)));
}

/** The Vulkan devices: vulkaninfo's summary where it is installed, else the installed drivers' manifests. */
function vulkanDevices(): { names: string[]; how: string } {
  const info = run('vulkaninfo', ['--summary']);
  if (info.ok) {
    const names = [...info.out.matchAll(/deviceName\s*=\s*(.+)/g)].map((m) => m[1]!.trim());
    return { names, how: 'vulkaninfo --summary' };
  }
  const dirs = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d'].filter(existsSync);
  const names = dirs.flatMap((d) => readdirSync(d).map((f) => `${f} (driver manifest)`));
  return { names, how: 'driver manifests (vulkaninfo not installed)' };
}

async function main(): Promise<void> {
  console.log('device check (issue 14)');
  const smi = run('nvidia-smi', ['--query-gpu=index,name,driver_version,memory.total,temperature.gpu,power.draw', '--format=csv,noheader']);
  if (smi.ok) console.log(`  NVIDIA GPUs (nvidia-smi): \n    ${smi.out.split('\n').join('\n    ')}`);
  else console.log('  nvidia-smi: not found or failed (no NVIDIA driver here)');
  const cuda = libraries(['libcudart.so', 'libcublas.so', 'libcublasLt.so', 'libcudnn.so', 'libcufft.so', 'libnvidia-ml.so']);
  console.log(`  CUDA libraries the linker knows: ${cuda.length ? [...new Set(cuda)].join(', ') : 'none'}`);
  console.log(
    `  onnxruntime's cuda provider: ${cudaInstalled() ? 'installed' : 'not installed (ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js)'}`,
  );
  const loader = libraries(['libvulkan.so']);
  const vk = vulkanDevices();
  console.log(`  Vulkan loader: ${loader.length ? [...new Set(loader)].join(', ') : 'not installed (apt-get install libvulkan1)'}`);
  console.log(`  Vulkan devices (${vk.how}): ${vk.names.length ? vk.names.join('; ') : 'none'}`);
  const pkg = JSON.parse(readFileSync(join(root, 'node_modules/onnxruntime-node/package.json'), 'utf8')) as { version: string };
  console.log(`  onnxruntime-node ${pkg.version}`);

  const providers: { provider: Provider; why?: string }[] = [];
  if (cudaInstalled()) providers.push({ provider: 'cuda' });
  else providers.push({ provider: 'cuda', why: 'its provider is not installed' });
  // WebGPU is timed on an NVIDIA GPU only: elsewhere the adapter Dawn picks may be a CPU rasterizer (lavapipe),
  // on which an ailo-1b step takes hours.
  const nvidiaVulkan = vk.names.some((n) => /nvidia/i.test(n));
  if (!loader.length) providers.push({ provider: 'webgpu', why: 'no Vulkan loader' });
  else if (!smi.ok || !nvidiaVulkan)
    providers.push({ provider: 'webgpu', why: `no NVIDIA Vulkan device (${vk.names.length ? vk.names.join('; ') : 'none'})` });
  else if (!webgpuWorks()) providers.push({ provider: 'webgpu', why: 'no WebGPU adapter opens a session' });
  else providers.push({ provider: 'webgpu' });

  const cfg = presetConfig('ailo-1b');
  const P = paramCount(cfg);
  const seq = Number(process.env.AILO_CHECK_SEQ ?? 1024);
  for (const { provider, why } of providers) {
    if (why) {
      console.log(`\n${provider}: skipped, ${why}`);
      continue;
    }
    console.log(`\n${provider}:`);
    // In a child process: a broken GPU stack can abort the process rather than throw.
    let flops: number | undefined;
    const m = spawnSync(process.execPath, [tsx, fileURLToPath(import.meta.url), '--matmul', provider], {
      encoding: 'utf8',
      timeout: 90_000,
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir() },
    });
    const mm = /^matmul (\S+)$/m.exec(m.stdout ?? '');
    if (mm) {
      flops = Number(mm[1]);
      console.log(`  matmul 4096^3 float32: ${(flops / 1e12).toFixed(2)} TFLOP/s`);
    } else console.log(`  matmul failed: ${(m.stderr ?? '').trim().split('\n').slice(-1)[0] ?? 'no result'}`);
    const left = BUDGET_MS - (Date.now() - started);
    if (left < 60_000) {
      console.log('  the training step is skipped: the check is out of time');
      continue;
    }
    // float32, then mixed precision (float16 products; the utilisation is still against the float32 matmul speed).
    // cuda trains several steps a run (an ONNX Loop, the state on the device through them): a run of 4 is timed,
    // its share of moving the state there and back included; then, in float32, a step a run (the state to the host
    // and back each step), for what the Loop saves. webgpu keeps the state on the device between runs.
    const variants: { precision: 'fp32' | 'fp16'; layout: 'fused' | 'step' }[] = [
      { precision: 'fp32', layout: 'fused' },
      { precision: 'fp16', layout: 'fused' },
      ...(provider === 'cuda' ? [{ precision: 'fp32', layout: 'step' } as const] : []),
    ];
    for (const { precision, layout } of variants) {
      const left = BUDGET_MS - (Date.now() - started);
      if (left < 60_000) {
        console.log(`  the ${precision} training step${layout === 'step' ? ', a step a run,' : ''} is skipped: the check is out of time`);
        continue;
      }
      const steps = provider === 'cuda' ? 4 : 1;
      const r = spawnSync(
        process.execPath,
        [
          tsx,
          join(root, 'trainer/training/step-probe.ts'),
          'ailo-1b',
          provider,
          '1',
          String(seq),
          String(steps),
          layout,
          'float32',
          precision,
        ],
        { encoding: 'utf8', timeout: left, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir() } },
      );
      const line = r.stdout?.split('\n').find((l) => l.startsWith('{'));
      if (!line) {
        const why2 = r.error ? `no result within ${(left / 1000).toFixed(0)} s` : (r.stderr ?? '').trim().split('\n').slice(-2).join(' ');
        console.log(`  ailo-1b ${precision} step (1x${seq}): failed: ${why2}`);
        continue;
      }
      const p = JSON.parse(line) as {
        tokensPerSecond: number;
        msPerStep: number;
        maxRss: number;
        stepsPerRun: number;
        loopFellBack?: string;
      };
      const run = p.loopFellBack
        ? ` (a step a run: the Loop ran out of device memory, ${p.loopFellBack.split('\n')[0]!.slice(-120)})`
        : p.stepsPerRun > 1
          ? ` (a run of ${p.stepsPerRun} steps in a Loop)`
          : provider === 'cuda'
            ? ' (a step a run)'
            : '';
      const model = 6 * P * p.tokensPerSecond;
      console.log(
        `  ailo-1b fused AdamW step, ${precision}, 1x${seq}${run}: ${(p.msPerStep / 1000).toFixed(2)} s, ${p.tokensPerSecond.toFixed(0)} tokens/s, ` +
          `model FLOPs ${(model / 1e12).toFixed(2)} TFLOP/s${flops ? ` = ${((100 * model) / flops).toFixed(1)}% of the float32 matmul speed` : ''}, host peak ${(p.maxRss / 2 ** 30).toFixed(1)} GiB`,
      );
    }
  }
  console.log(`\nthe check took ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

if (process.argv[2] === '--matmul') console.log(`matmul ${await matmulFlops(process.argv[3] as Provider, 4096)}`);
else await main();
