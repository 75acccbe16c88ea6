/**
 * Local training in the browser with onnxruntime-web: the same fused training graph (forward, backward, AdamW)
 * the native miner runs, on `webgpu` or `wasm`. Tensors travel through the host between steps; for the small
 * configs a browser trains that costs little, and it needs no device-buffer bookkeeping.
 */
import * as ort from 'onnxruntime-web';
import ortWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';
import { stepRows, taskTokenCount, type LocalTrainingTask } from '../../../trainer/federated/task-rows.js';
import { numel, paramSpecs, type ModelConfig, type ParamSpec } from '../../../trainer/model/config.js';
import type { Weights } from '../../../trainer/model/weights.js';
import { buildTrainingGraph, DEFAULT_ADAMW } from '../../../trainer/onnx/graphs.js';
import { tokenBatch } from '../../../trainer/runtime/tokens.js';
import type { MiningBackend } from './protocol.js';

ort.env.wasm.wasmPaths = { wasm: ortWasmUrl };
// Threads need a cross-origin-isolated page (SharedArrayBuffer); the wallet is not, so one thread, no proxy worker.
ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
ort.env.logLevel = 'error';

export interface BrowserStepReport {
  step: number;
  loss: number;
  tokens: number;
}

export class BrowserTrainSession {
  private readonly specs: ParamSpec[];

  private constructor(readonly cfg: ModelConfig, readonly backend: MiningBackend, readonly batch: number, readonly seq: number, private readonly session: ort.InferenceSession) {
    this.specs = paramSpecs(cfg);
  }

  static async create(cfg: ModelConfig, backend: MiningBackend, batch: number, seq: number): Promise<BrowserTrainSession> {
    const graph = buildTrainingGraph(cfg, { batch, seq, optimizer: DEFAULT_ADAMW });
    const session = await ort.InferenceSession.create(graph.bytes, { executionProviders: [backend], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
    return new BrowserTrainSession(cfg, backend, batch, seq, session);
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
    const tensor = (s: ParamSpec, data: Float32Array): ort.Tensor => new ort.Tensor('float32', data, s.shape);
    let params = new Map(this.specs.map((s) => [s.name, tensor(s, start.get(s.name)!)]));
    let m = new Map(this.specs.map((s) => [s.name, tensor(s, new Float32Array(numel(s.shape)))]));
    let v = new Map(this.specs.map((s) => [s.name, tensor(s, new Float32Array(numel(s.shape)))]));
    const losses: number[] = [];
    for (let s = 0; s < task.steps; s++) {
      if (hooks.shouldStop?.()) return undefined;
      const b = tokenBatch(this.cfg, stepRows(tokens, task, s));
      const dims = [b.batch, b.seq, 1];
      const feeds: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', b.ids, dims),
        targets: new ort.Tensor('int64', b.targets, dims),
        lr: new ort.Tensor('float32', Float32Array.of(task.lr), []),
        step: new ort.Tensor('float32', Float32Array.of(s + 1), []),
      };
      for (const p of this.specs) {
        feeds[p.name] = params.get(p.name)!;
        feeds[`m.${p.name}`] = m.get(p.name)!;
        feeds[`v.${p.name}`] = v.get(p.name)!;
      }
      const out = await this.session.run(feeds);
      params = new Map(this.specs.map((p) => [p.name, out[`new.${p.name}`]!]));
      m = new Map(this.specs.map((p) => [p.name, out[`new_m.${p.name}`]!]));
      v = new Map(this.specs.map((p) => [p.name, out[`new_v.${p.name}`]!]));
      const loss = (out.loss!.data as Float32Array)[0]!;
      if (!Number.isFinite(loss)) throw new Error(`training diverged at step ${s + 1} (loss ${loss})`);
      losses.push(loss);
      await hooks.onStep?.({ step: s + 1, loss, tokens: task.batchSize * task.seqLen });
    }
    const update: Weights = new Map();
    for (const [name, w0] of start) {
      const w1 = params.get(name)!.data as Float32Array;
      const d = new Float32Array(w0.length);
      for (let i = 0; i < d.length; i++) d[i] = w1[i]! - w0[i]!;
      update.set(name, d);
    }
    return { update, losses };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
