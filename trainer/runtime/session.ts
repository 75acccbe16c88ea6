// Creating onnxruntime sessions for a provider, with outputs placed on the device or on the CPU.
import * as ort from 'onnxruntime-node';
import { assertProviderAvailable, keepsStateOnDevice, type Provider } from './provider.js';

export { ort };

export interface SessionOptions {
  /** Outputs to leave on the device (gpu-buffer) where the provider allows; all others come back to the CPU. */
  deviceOutputs?: readonly string[];
  /** Fail instead of running a node on the CPU when the provider lacks its kernel (tests the op set). */
  forbidCpuFallback?: boolean;
  /** Threads onnxruntime uses within an op (default: $AILO_CPU_THREADS, else every core). */
  intraOpThreads?: number;
  /** The CUDA device to run on (cuda only; device 0 when absent). */
  deviceId?: number;
  /** false: a run's working memory goes back when it ends, instead of staying in onnxruntime's CPU arena. */
  memArena?: boolean;
}

export async function createSession(model: Uint8Array, provider: Provider, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  assertProviderAvailable(provider);
  if (provider === 'webgpu') process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const o: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider === 'cuda' && opts.deviceId !== undefined ? { name: 'cuda', deviceId: opts.deviceId } : provider],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
  // An operator running a node beside other work caps its CPU threads with AILO_CPU_THREADS.
  const threads = opts.intraOpThreads ?? (Number(process.env.AILO_CPU_THREADS) || undefined);
  if (threads) o.intraOpNumThreads = threads;
  if (opts.memArena === false) o.enableCpuMemArena = false;
  if (opts.forbidCpuFallback) o.extra = { session: { disable_cpu_ep_fallback: '1' } };
  if (keepsStateOnDevice(provider) && opts.deviceOutputs?.length) {
    const device = new Set(opts.deviceOutputs);
    // The per-output map must name every output; read them from a throwaway parse of the model's names.
    o.preferredOutputLocation = Object.fromEntries(outputNames(model).map((n) => [n, device.has(n) ? 'gpu-buffer' : 'cpu']));
  }
  return ort.InferenceSession.create(model, o);
}

import onnxProto from 'onnx-proto';
function outputNames(model: Uint8Array): string[] {
  return onnxProto.onnx.ModelProto.decode(model).graph!.output!.map((v) => v.name!);
}
