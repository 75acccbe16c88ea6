/**
 * Where a miner can train and where it trains by default: `cuda` where its library is installed (one entry per
 * device nvidia-smi lists), else `webgpu` where a session really runs (probed in a child process, since a broken
 * GPU stack can abort the process), else `cpu`.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { assertProviderAvailable } from '../runtime/provider.js';
import type { NativeDevice } from './status.js';

const PROBE = fileURLToPath(new URL('./probe-webgpu.ts', import.meta.url));

/** A GPU the miner can train on; `id` is what settings and `--gpu` name it by. */
export interface GpuOption {
  id: string;
  label: string;
  device: NativeDevice;
}

export function cudaInstalled(): boolean {
  try {
    assertProviderAvailable('cuda');
    return true;
  } catch {
    return false;
  }
}

export function webgpuWorks(): boolean {
  const r = spawnSync(process.execPath, ['--import', 'tsx', PROBE], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
  });
  return r.status === 0 && r.stdout.includes('webgpu ok');
}

/** The CUDA devices nvidia-smi reports (index, name, memory); device 0 alone where nvidia-smi is missing. */
function cudaDevices(): GpuOption[] {
  const r = spawnSync('nvidia-smi', ['--query-gpu=index,name,memory.total', '--format=csv,noheader,nounits'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  const rows = r.status === 0 ? r.stdout.trim().split('\n').filter(Boolean) : [];
  if (rows.length === 0) return [{ id: 'cuda:0', label: 'CUDA device 0', device: { provider: 'cuda', deviceId: 0 } }];
  return rows.map((row) => {
    const [index, name, mib] = row.split(',').map((x) => x.trim());
    const deviceId = Number(index);
    return {
      id: `cuda:${deviceId}`,
      label: `${name} (CUDA ${deviceId}, ${(Number(mib) / 1024).toFixed(0)} GiB)`,
      device: { provider: 'cuda', deviceId },
    };
  });
}

/** Every GPU this machine can train on: the CUDA devices, then WebGPU's default adapter. */
export function listGpus(): GpuOption[] {
  const gpus = cudaInstalled() ? cudaDevices() : [];
  if (webgpuWorks()) gpus.push({ id: 'webgpu', label: 'WebGPU (the default adapter, over Vulkan)', device: { provider: 'webgpu' } });
  return gpus;
}

export function chooseDevice(o: { forceCpu: boolean; gpu?: number }, gpus: GpuOption[]): { device: NativeDevice; why: string } {
  if (o.forceCpu) return { device: { provider: 'cpu' }, why: '--cpu' };
  if (o.gpu !== undefined) {
    const cuda = gpus.find((g) => g.device.provider === 'cuda' && g.device.deviceId === o.gpu);
    if (cuda) return { device: cuda.device, why: `--gpu ${o.gpu}` };
    throw new Error(`--gpu ${o.gpu}: no such CUDA device here (GPUs: ${gpus.map((g) => g.id).join(', ') || 'none'})`);
  }
  const first = gpus[0];
  if (!first) return { device: { provider: 'cpu' }, why: 'no CUDA provider and no working WebGPU adapter' };
  return { device: first.device, why: first.device.provider === 'cuda' ? 'the CUDA provider is installed' : 'a WebGPU adapter answered' };
}
