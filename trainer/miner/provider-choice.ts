/**
 * Which execution provider a miner trains on: `cuda` where its library is installed, else `webgpu` where a
 * session really runs (probed in a child process, since a broken GPU stack can abort the process), else `cpu`.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { assertProviderAvailable, type Provider } from '../runtime/provider.js';

const PROBE = fileURLToPath(new URL('./probe-webgpu.ts', import.meta.url));

export function cudaInstalled(): boolean {
  try {
    assertProviderAvailable('cuda');
    return true;
  } catch {
    return false;
  }
}

export function webgpuWorks(): boolean {
  const r = spawnSync(process.execPath, ['--import', 'tsx', PROBE], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  return r.status === 0 && r.stdout.includes('webgpu ok');
}

export function chooseProvider(o: { forceCpu: boolean; gpu?: number }): { provider: Provider; why: string } {
  if (o.forceCpu) return { provider: 'cpu', why: '--cpu' };
  if (o.gpu !== undefined) process.env.CUDA_VISIBLE_DEVICES = String(o.gpu);
  if (cudaInstalled()) return { provider: 'cuda', why: 'the CUDA provider is installed' };
  if (webgpuWorks()) return { provider: 'webgpu', why: 'a WebGPU adapter answered' };
  return { provider: 'cpu', why: 'no CUDA provider and no working WebGPU adapter' };
}
