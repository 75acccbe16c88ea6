/**
 * Local training in the browser with onnxruntime-web: the same fused training graph (forward, backward, AdamW)
 * the native miner runs. Each backend loads its own onnxruntime-web build, and only that one: `webgpu` the C++
 * WebGPU provider (`onnxruntime-web/webgpu`, the provider onnxruntime-node runs natively; the default build's
 * JSEP provider, whose Gemm kernels took 95% of a step, ran a step of ailo-tiny about 3x slower on SwiftShader),
 * `wasm` the plain WASM build (about 3x faster on the CPU than the JSEP build's WASM kernels). On WebGPU the
 * parameters and AdamW moments stay in GPU buffers between steps: a step reads back only its loss, and the
 * weights come back once, at the end.
 */
import type * as Ort from 'onnxruntime-web';
import ortWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import ortWebGpuWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';
import { stepRows, taskTokenCount, type LocalTrainingTask } from '../../../trainer/federated/task-rows.js';
import { numel, paramSpecs, type ModelConfig, type ParamSpec } from '../../../trainer/model/config.js';
import { weightDelta, type Weights } from '../../../trainer/model/weights.js';
import { buildTrainingGraph, DEFAULT_ADAMW } from '../../../trainer/onnx/graphs.js';
import { tokenBatch } from '../../../trainer/runtime/tokens.js';
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

export interface BrowserStepReport {
  step: number;
  loss: number;
  tokens: number;
}

/** The state a step reads and writes: parameters and AdamW moments, by parameter name. */
interface TrainState {
  params: Map<string, Ort.Tensor>;
  m: Map<string, Ort.Tensor>;
  v: Map<string, Ort.Tensor>;
}

const stateOutputs = (p: ParamSpec): string[] => [`new.${p.name}`, `new_m.${p.name}`, `new_v.${p.name}`];

/** Frees the state's GPU buffers; host tensors are left to the garbage collector. */
function release(state: TrainState): void {
  for (const map of [state.params, state.m, state.v]) for (const t of map.values()) if (t.location === 'gpu-buffer') t.dispose();
}

export class BrowserTrainSession {
  private readonly specs: ParamSpec[];

  private constructor(
    private readonly ort: OrtModule,
    readonly cfg: ModelConfig,
    readonly backend: MiningBackend,
    readonly batch: number,
    readonly seq: number,
    private readonly session: Ort.InferenceSession,
  ) {
    this.specs = paramSpecs(cfg);
  }

  /** Builds the graph and the session; it needs only the model's config, so it can run while the weights download. */
  static async create(cfg: ModelConfig, backend: MiningBackend, batch: number, seq: number): Promise<BrowserTrainSession> {
    const ort = await runtime(backend);
    const graph = buildTrainingGraph(cfg, { batch, seq, optimizer: DEFAULT_ADAMW });
    const options: Ort.InferenceSession.SessionOptions = {
      executionProviders: [backend],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
    };
    if (backend === 'webgpu') {
      // The map must name every output: the new state stays on the GPU, the loss and the norm come back.
      const onGpu = new Set(paramSpecs(cfg).flatMap(stateOutputs));
      options.preferredOutputLocation = Object.fromEntries(graph.outputs.map((n) => [n, onGpu.has(n) ? 'gpu-buffer' : 'cpu']));
    }
    const session = await ort.InferenceSession.create(graph.bytes, options);
    return new BrowserTrainSession(ort, cfg, backend, batch, seq, session);
  }

  fits(cfg: ModelConfig, task: LocalTrainingTask): boolean {
    return JSON.stringify(cfg) === JSON.stringify(this.cfg) && task.batchSize === this.batch && task.seqLen === this.seq;
  }

  /** `steps` AdamW steps from `start` over the task's tokens; the update (local minus start), or undefined when stopped. */
  async train(
    start: Weights,
    tokens: Uint16Array,
    task: LocalTrainingTask,
    hooks: { onStep?: (r: BrowserStepReport) => void | Promise<void>; shouldStop?: () => boolean } = {},
  ): Promise<{ update: Weights; losses: number[] } | undefined> {
    if (tokens.length !== taskTokenCount(task)) throw new RangeError(`the task needs ${taskTokenCount(task)} tokens, got ${tokens.length}`);
    const { Tensor } = this.ort;
    const tensor = (s: ParamSpec, data: Float32Array): Ort.Tensor => new Tensor('float32', data, s.shape);
    // The first step uploads these host tensors; every later one reads the previous step's outputs where they are.
    let state: TrainState = {
      params: new Map(this.specs.map((s) => [s.name, tensor(s, start.get(s.name)!)])),
      m: new Map(this.specs.map((s) => [s.name, tensor(s, new Float32Array(numel(s.shape)))])),
      v: new Map(this.specs.map((s) => [s.name, tensor(s, new Float32Array(numel(s.shape)))])),
    };
    try {
      const losses: number[] = [];
      for (let s = 0; s < task.steps; s++) {
        if (hooks.shouldStop?.()) return undefined;
        const b = tokenBatch(this.cfg, stepRows(tokens, task, s));
        const dims = [b.batch, b.seq, 1];
        const feeds: Record<string, Ort.Tensor> = {
          input_ids: new Tensor('int64', b.ids, dims),
          targets: new Tensor('int64', b.targets, dims),
          lr: new Tensor('float32', Float32Array.of(task.lr), []),
          step: new Tensor('float32', Float32Array.of(s + 1), []),
        };
        for (const p of this.specs) {
          feeds[p.name] = state.params.get(p.name)!;
          feeds[`m.${p.name}`] = state.m.get(p.name)!;
          feeds[`v.${p.name}`] = state.v.get(p.name)!;
        }
        const out = await this.session.run(feeds);
        const previous = state;
        state = {
          params: new Map(this.specs.map((p) => [p.name, out[`new.${p.name}`]!])),
          m: new Map(this.specs.map((p) => [p.name, out[`new_m.${p.name}`]!])),
          v: new Map(this.specs.map((p) => [p.name, out[`new_v.${p.name}`]!])),
        };
        release(previous);
        const loss = (out.loss!.data as Float32Array)[0]!;
        if (!Number.isFinite(loss)) throw new Error(`training diverged at step ${s + 1} (loss ${loss})`);
        losses.push(loss);
        await hooks.onStep?.({ step: s + 1, loss, tokens: task.batchSize * task.seqLen });
      }
      // getData() reads a GPU buffer back (and returns a host tensor's own array).
      const local: Weights = new Map();
      for (const name of start.keys()) local.set(name, (await state.params.get(name)!.getData()) as Float32Array);
      return { update: weightDelta(start, local), losses };
    } finally {
      release(state);
    }
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
