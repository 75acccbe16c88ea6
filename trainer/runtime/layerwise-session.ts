/**
 * The layer-wise training layout (see train-session.ts): a step runs the embedding graph, one block graph per layer
 * (keeping only each block's input, the checkpoint), the head (loss and its backward), each block's backward in
 * reverse (recomputing that block's forward from its checkpoint), and the embedding's backward; then AdamW on the
 * host, in place. Memory: parameters, both AdamW moments and the gradients once each (16 bytes a parameter; 10 with
 * 8-bit moments, quantized-moments.ts), the
 * n_layer + 1 checkpoints ([B, T, C] each), and one graph's working set at a time (its sessions return their memory
 * after each run). The update is the fused graph's (`adamWNodes`): global-norm clipping, bias-corrected moments,
 * decoupled weight decay on matrices and embeddings (Loshchilov and Hutter, "Decoupled Weight Decay Regularization").
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { numel, paramSpecs, type ModelConfig, type ParamSpec } from '../model/config.js';
import { checkWeights, type Weights } from '../model/weights.js';
import { blockParamSpecs, buildLayerwiseGraphs, decays, DEFAULT_ADAMW, type AdamWOptions } from '../onnx/graphs.js';
import { blockCount, momentStore, QUANT_BLOCK, type MomentFormat, type MomentStore } from './quantized-moments.js';
import type { TokenBatch } from './tokens.js';
import {
  sessionFits,
  stepEach,
  tokenFeeds,
  type TensorMap,
  type TrainingRuntime,
  type TrainSession,
  type TrainSessionShape,
  type TrainStepResult,
} from './train-session.js';

interface Sessions {
  embed: InferenceSession;
  block: InferenceSession;
  blockBackward: InferenceSession;
  head: InferenceSession;
  embedBackward: InferenceSession;
}

export class LayerwiseTrainSession implements TrainSession {
  readonly layout = 'layerwise';
  readonly stepsPerRun = 1;
  private params: Weights = new Map();
  private m = new Map<string, MomentStore>();
  private v = new Map<string, MomentStore>();
  private stepCount = 0;
  readonly precision = 'fp32';
  private readonly specs: ParamSpec[];
  /** Each parameter's shape, by name. */
  private readonly shapes: Map<string, ParamSpec['shape']>;
  /** For each layer, its parameter names by block 0's (the names the block graphs take). */
  private readonly layerNames: Map<string, string>[];

  private constructor(
    readonly runtime: TrainingRuntime,
    readonly cfg: ModelConfig,
    readonly batch: number,
    readonly seq: number,
    private readonly adamw: AdamWOptions,
    /** How the AdamW moments are stored (float32, or 8 bits a value). */
    readonly moments: MomentFormat,
    private readonly sessions: Sessions,
  ) {
    this.specs = paramSpecs(cfg);
    this.shapes = new Map(this.specs.map((s) => [s.name, s.shape]));
    const block = blockParamSpecs(cfg).map((s) => s.name);
    this.layerNames = Array.from({ length: cfg.n_layer }, (_, i) => new Map(block.map((n) => [n, `h.${i}.${n.slice('h.0.'.length)}`])));
  }

  static async open(runtime: TrainingRuntime, cfg: ModelConfig, shape: TrainSessionShape): Promise<LayerwiseTrainSession> {
    const graphs = buildLayerwiseGraphs(cfg, shape);
    const opened: InferenceSession[] = [];
    try {
      const open = async (g: (typeof graphs)[keyof typeof graphs]): Promise<InferenceSession> => {
        const s = await runtime.createSession(g, [], { memArena: false });
        opened.push(s);
        return s;
      };
      const sessions: Sessions = {
        embed: await open(graphs.embed),
        block: await open(graphs.block),
        blockBackward: await open(graphs.blockBackward),
        head: await open(graphs.head),
        embedBackward: await open(graphs.embedBackward),
      };
      return new LayerwiseTrainSession(
        runtime,
        cfg,
        shape.batch,
        shape.seq,
        shape.adamw ?? DEFAULT_ADAMW,
        shape.moments ?? 'float32',
        sessions,
      );
    } catch (err) {
      for (const s of opened) await s.release();
      throw err;
    }
  }

  fits(cfg: ModelConfig, shape: { batchSize: number; seqLen: number }): boolean {
    return sessionFits(this, cfg, shape);
  }

  async start(weights: Weights): Promise<void> {
    checkWeights(this.cfg, weights);
    this.release();
    // Copies: the step updates them in place, and the caller's weights stay as they were.
    this.params = new Map(this.specs.map((s) => [s.name, Float32Array.from(weights.get(s.name)!)]));
    this.m = new Map(this.specs.map((s) => [s.name, momentStore(this.moments, numel(s.shape), true)]));
    this.v = new Map(this.specs.map((s) => [s.name, momentStore(this.moments, numel(s.shape), false)]));
    this.stepCount = 0;
  }

  get steps(): number {
    return this.stepCount;
  }

  private tensorOf(name: string): Tensor {
    return this.runtime.tensor('float32', this.params.get(name)!, this.shapes.get(name)!);
  }

  private hidden(data: Float32Array): Tensor {
    return this.runtime.tensor('float32', data, [this.batch, this.seq, this.cfg.n_embd]);
  }

  /** Layer i's parameters under block 0's names. */
  private layerFeeds(i: number): Record<string, Tensor> {
    return Object.fromEntries([...this.layerNames[i]!].map(([as, name]) => [as, this.tensorOf(name)]));
  }

  stepMany(batches: readonly TokenBatch[], lr: number | readonly number[]): Promise<TrainStepResult[]> {
    return stepEach(this, batches, lr);
  }

  async step(b: TokenBatch, lr: number): Promise<TrainStepResult> {
    if (this.params.size === 0) throw new Error('the training session has no weights: call start() first');
    const { input_ids: ids, targets } = tokenFeeds(this.runtime.tensor, b, 'train', this);
    const s = this.sessions;
    const data = (t: Tensor | undefined): Float32Array => t!.data as Float32Array;
    // Forward, keeping each block's input.
    const checkpoints: Float32Array[] = [
      data((await s.embed.run({ input_ids: ids, 'wte.weight': this.tensorOf('wte.weight'), 'wpe.weight': this.tensorOf('wpe.weight') })).x),
    ];
    for (let i = 0; i < this.cfg.n_layer; i++) {
      checkpoints.push(data((await s.block.run({ x: this.hidden(checkpoints[i]!), ...this.layerFeeds(i) })).y));
    }
    // The head: loss and the gradient at the last block's output.
    const grads: Weights = new Map();
    const head = await s.head.run({
      x: this.hidden(checkpoints.pop()!),
      'ln_f.weight': this.tensorOf('ln_f.weight'),
      'ln_f.bias': this.tensorOf('ln_f.bias'),
      'wte.weight': this.tensorOf('wte.weight'),
      targets,
    });
    const loss = data(head.loss)[0]!;
    grads.set('ln_f.weight', data(head['grad.ln_f.weight']));
    grads.set('ln_f.bias', data(head['grad.ln_f.bias']));
    let dx = data(head.dx);
    // Each block's backward, last to first, from its checkpoint.
    for (let i = this.cfg.n_layer - 1; i >= 0; i--) {
      const out = await s.blockBackward.run({ x: this.hidden(checkpoints.pop()!), dy: this.hidden(dx), ...this.layerFeeds(i) });
      for (const [as, name] of this.layerNames[i]!) grads.set(name, data(out[`grad.${as}`]));
      dx = data(out.dx);
    }
    const emb = await s.embedBackward.run({ input_ids: ids, dx: this.hidden(dx), 'grad.wte.head': head['grad.wte.head']! });
    grads.set('wte.weight', data(emb['grad.wte.weight']));
    grads.set('wpe.weight', data(emb['grad.wpe.weight']));
    const gradNorm = this.adamW(grads, lr);
    this.stepCount++;
    return { loss, gradNorm };
  }

  /**
   * AdamW in place on the host, step `stepCount + 1`, with the fused graph's arithmetic (`adamWNodes`: clip factor
   * min(1, clipNorm / (norm + 1e-6)), bias corrections folded into scalars). Returns the pre-clip global L2 norm.
   */
  private adamW(grads: Weights, lr: number): number {
    const o = this.adamw;
    let sumsq = 0;
    for (const g of grads.values()) for (let j = 0; j < g.length; j++) sumsq += g[j]! * g[j]!;
    const norm = Math.sqrt(sumsq);
    const clip = o.clipNorm > 0 ? Math.min(1, o.clipNorm / (norm + 1e-6)) : 1;
    const t = this.stepCount + 1;
    const gScaleM = clip * (1 - o.beta1);
    const gScaleV = clip * clip * (1 - o.beta2);
    const stepSize = lr / (1 - o.beta1 ** t);
    const sqrtBc2 = Math.sqrt(1 - o.beta2 ** t);
    const decayFactor = 1 - lr * o.weightDecay;
    // A block at a time: the moments are decoded, updated and encoded again (see quantized-moments.ts).
    const mb = new Float32Array(QUANT_BLOCK);
    const vb = new Float32Array(QUANT_BLOCK);
    for (const spec of this.specs) {
      const p = this.params.get(spec.name)!;
      const m = this.m.get(spec.name)!;
      const v = this.v.get(spec.name)!;
      const g = grads.get(spec.name)!;
      const decay = decays(spec) && o.weightDecay > 0 ? decayFactor : 1;
      for (let block = 0, blocks = blockCount(p.length); block < blocks; block++) {
        const n = m.read(block, mb);
        v.read(block, vb);
        let mMax = 0,
          vMax = 0; // the new moments' largest magnitudes, which their 8-bit blocks are scaled by
        for (let j = 0, at = block * QUANT_BLOCK; j < n; j++, at++) {
          const gj = g[at]!;
          // Rounded to float32 as stored, so the maxima are the stored values' and the update reads what is kept.
          const mj = (mb[j] = Math.fround(mb[j]! * o.beta1 + gj * gScaleM));
          const vj = (vb[j] = Math.fround(vb[j]! * o.beta2 + gj * gj * gScaleV));
          p[at] = p[at]! * decay - (mj / (Math.sqrt(vj) / sqrtBc2 + o.eps)) * stepSize;
          const a = Math.abs(mj);
          if (a > mMax) mMax = a;
          if (vj > vMax) vMax = vj;
        }
        m.write(block, mb, n, mMax);
        v.write(block, vb, n, vMax);
      }
      grads.delete(spec.name); // freed as the update goes
    }
    return norm;
  }

  async weights(): Promise<Weights> {
    return new Map([...this.params].map(([n, p]) => [n, Float32Array.from(p)]));
  }

  async takeWeights(): Promise<Weights> {
    const weights = this.params;
    this.release();
    return weights;
  }

  paramTensors(): TensorMap {
    return new Map(this.specs.map((s) => [s.name, this.tensorOf(s.name)]));
  }

  release(): void {
    this.params = new Map();
    this.m = new Map();
    this.v = new Map();
  }

  async dispose(): Promise<void> {
    this.release();
    for (const s of Object.values(this.sessions)) await s.release();
  }
}
