/**
 * The training runtime of onnxruntime-web: the shared `TrainSession` (the native miner's fused training graph and
 * step loop) over the browser's onnxruntime build. Each backend loads its own onnxruntime-web build, and only that one: `webgpu` the C++
 * WebGPU provider (`onnxruntime-web/webgpu`, the provider onnxruntime-node runs natively; the default build's
 * JSEP provider, whose Gemm kernels took 95% of a step, ran a step of ailo-tiny about 3x slower on SwiftShader),
 * `wasm` the plain WASM build (about 3x faster on the CPU than the JSEP build's WASM kernels). On WebGPU the
 * parameters and AdamW moments stay in GPU buffers between steps: a step reads back only its loss, and the
 * weights come back once, at the end.
 */
import type * as Ort from 'onnxruntime-web';
import ortWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import ortWebGpuWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';
import type { ModelConfig } from '../../../trainer/model/config.js';
import { TrainSession, type TrainingRuntime } from '../../../trainer/runtime/train-session.js';
import type { MiningBackend } from './protocol.js';

type OrtModule = typeof Ort;

const runtimes = new Map<MiningBackend, Promise<OrtModule>>();

function runtime(backend: MiningBackend): Promise<OrtModule> {
  let loading = runtimes.get(backend);
  if (!loading) {
    loading = (backend === 'webgpu' ? import('onnxruntime-web/webgpu') : import('onnxruntime-web/wasm')).then((ort) => {
      ort.env.wasm.wasmPaths = { wasm: backend === 'webgpu' ? ortWebGpuWasmUrl : ortWasmUrl };
      // Threads need a cross-origin-isolated page (SharedArrayBuffer); the wallet is not, so one thread, no proxy worker.
      ort.env.wasm.numThreads = 1;
      ort.env.wasm.proxy = false;
      ort.env.logLevel = 'error';
      return ort;
    });
    runtimes.set(backend, loading);
  }
  return loading;
}

/**
 * The runtime of `backend`, for the miner's training sessions and the room worker's span runner: on webgpu the
 * outputs a session names stay in GPU buffers (the first run uploads the host tensors it is fed; `getData()` reads a
 * GPU buffer back), on wasm everything is on the host.
 */
export async function webRuntime(backend: MiningBackend): Promise<TrainingRuntime> {
  const ort = await runtime(backend);
  return {
    device: { provider: backend },
    tensor: (type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]) =>
      new ort.Tensor(type, data as Float32Array, dims),
    createSession: (graph, deviceOutputs) => {
      const options: Ort.InferenceSession.SessionOptions = {
        executionProviders: [backend],
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
      };
      if (backend === 'webgpu') {
        // The map must name every output: the new state stays on the GPU, the loss and the norm come back.
        const onGpu = new Set(deviceOutputs);
        options.preferredOutputLocation = Object.fromEntries(graph.outputs.map((n) => [n, onGpu.has(n) ? 'gpu-buffer' : 'cpu']));
      }
      return ort.InferenceSession.create(graph.bytes, options);
    },
    transfer: (specs) => ({
      upload: async (values) => new Map(specs.map((s) => [s.name, new ort.Tensor('float32', values.get(s.name)!, s.shape)])),
      download: async (tensors) => {
        const host = new Map<string, Float32Array>();
        for (const s of specs) host.set(s.name, (await tensors.get(s.name)!.getData()) as Float32Array);
        return host;
      },
      dispose: async () => {},
    }),
  };
}

/** A browser training session for `cfg` at batch x seq on `backend`; it needs only the config, so it can open while the weights download. */
export async function openBrowserSession(cfg: ModelConfig, backend: MiningBackend, batch: number, seq: number): Promise<TrainSession> {
  return TrainSession.open(await webRuntime(backend), cfg, { batch, seq });
}
