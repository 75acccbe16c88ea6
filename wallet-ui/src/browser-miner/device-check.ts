/**
 * What this browser can train: WebGPU when an adapter exists whose limits hold the largest buffer the training
 * graph needs, else WASM; and whether the model and its optimizer state fit at all. The reasons are for users.
 */
import { paramCount, paramSpecs, numel, type ModelConfig } from '../../../trainer/model/config.js';
import type { BackendChoice, MiningBackend } from './protocol.js';

/** WASM32 addresses at most 4 GiB. */
const WASM_MAX_BYTES = 4 * 1024 ** 3;

export interface TrainingShape {
  batchSize: number;
  seqLen: number;
}

export interface MemoryNeed {
  /** Everything one step holds at once: weights, AdamW moments and their new copies, the update, the error feedback, and the logits with their gradient. */
  totalBytes: number;
  /** The largest single buffer (a device binding must hold it). */
  largestBufferBytes: number;
}

export function memoryNeed(cfg: ModelConfig, shape: TrainingShape): MemoryNeed {
  const paramBytes = paramCount(cfg) * 4;
  const logitsBytes = shape.batchSize * shape.seqLen * cfg.vocab_size * 4;
  const largestParam = Math.max(...paramSpecs(cfg).map((s) => numel(s.shape) * 4));
  return { totalBytes: paramBytes * 10 + logitsBytes * 4, largestBufferBytes: Math.max(largestParam, logitsBytes) };
}

export type DevicePlan = { ok: true; backend: MiningBackend; description: string } | { ok: false; reason: string };

interface GpuAdapterLike {
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
  info?: { vendor?: string; architecture?: string; description?: string };
}

interface NavigatorWithGpu {
  gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> };
  deviceMemory?: number;
}

const mib = (n: number): string => `${Math.round(n / 1024 ** 2)} MiB`;

export async function planDevice(
  cfg: ModelConfig,
  shape: TrainingShape,
  choice: BackendChoice,
  nav: NavigatorWithGpu = navigator as NavigatorWithGpu,
): Promise<DevicePlan> {
  const need = memoryNeed(cfg, shape);
  // navigator.deviceMemory is rounded down and capped at 8 (GiB); half of it is what a tab can expect to get.
  if (nav.deviceMemory !== undefined && need.totalBytes > (nav.deviceMemory * 1024 ** 3) / 2) {
    return {
      ok: false,
      reason: `training this model needs about ${mib(need.totalBytes)} of memory, and this device reports ${nav.deviceMemory} GiB; use the native miner (ailo-miner) on a machine with more memory`,
    };
  }
  let gpuProblem = choice === 'wasm' ? 'WASM was chosen' : '';
  if (choice !== 'wasm') {
    const adapter = nav.gpu ? await nav.gpu.requestAdapter().catch(() => null) : null;
    if (!nav.gpu) gpuProblem = 'this browser has no WebGPU';
    else if (!adapter) gpuProblem = 'WebGPU found no graphics adapter';
    else {
      const limit = Math.min(adapter.limits.maxStorageBufferBindingSize, adapter.limits.maxBufferSize);
      if (limit < need.largestBufferBytes)
        gpuProblem = `the graphics adapter binds at most ${mib(limit)} per buffer and training needs ${mib(need.largestBufferBytes)}`;
      else {
        const name =
          [adapter.info?.vendor, adapter.info?.architecture || adapter.info?.description].filter(Boolean).join(' ') || 'a graphics adapter';
        return { ok: true, backend: 'webgpu', description: `WebGPU on ${name}, about ${mib(need.totalBytes)} needed` };
      }
    }
    if (choice === 'webgpu') return { ok: false, reason: `cannot mine with WebGPU: ${gpuProblem}. Choose WASM (slower) instead.` };
  }
  if (need.totalBytes > WASM_MAX_BYTES) {
    return {
      ok: false,
      reason: `training this model needs about ${mib(need.totalBytes)}, more than WebAssembly can address (4 GiB), and ${gpuProblem}; use the native miner (ailo-miner)`,
    };
  }
  return { ok: true, backend: 'wasm', description: `WASM on the CPU (${gpuProblem}), about ${mib(need.totalBytes)} needed` };
}
