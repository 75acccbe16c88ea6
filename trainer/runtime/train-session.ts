/**
 * Local training over either onnxruntime build, in one of two layouts (`TrainSession.open`):
 * - fused (default): one graph (forward, backward, AdamW; `buildTrainingGraph`) run step after step, the parameters
 *   and AdamW moments fed back from one step's outputs to the next. Where the provider keeps state on the device
 *   (webgpu), the new state stays in GPU buffers between steps: a step reads back only its loss and gradient norm,
 *   and the weights come back once, when asked for. Fastest, but a step holds old and new state at once.
 * - layer-wise (`layerwise: true`, layerwise-session.ts): a graph per block with activation checkpointing and AdamW
 *   applied in place on the host, so weights, moments and gradients exist once and only one block's activations at a
 *   time: what lets AILO-1B train in 16 GiB.
 * Browser-safe: the build (onnxruntime-node natively, onnxruntime-web in the browser) comes in as a `TrainingRuntime`.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { numel, paramSpecs, type ModelConfig, type ParamSpec } from '../model/config.js';
import { checkWeights, type Weights } from '../model/weights.js';
import {
  buildTrainingGraph,
  buildTrainingLoopGraph,
  DEFAULT_ADAMW,
  FLOAT32_MAX,
  type AdamWOptions,
  type BuiltGraph,
  type LossScaling,
  type Precision,
  type TrainingGraphOptions,
} from '../onnx/graphs.js';
import type { TokenBatch } from './tokens.js';
// A cycle, safe: each module uses the other's exports only inside functions.
import { LayerwiseTrainSession } from './layerwise-session.js';
import type { MomentFormat, TrainLayout } from '../model/memory-plan.js';

/** Parameter tensors by parameter name (on the device where the provider keeps them there). */
export type TensorMap = Map<string, Tensor>;

/** Moves parameter-shaped tensors between host arrays and what a session of the runtime takes. */
export interface ParamTransfer {
  /** Host arrays (by name, each `numel(shape)` float32) to tensors the runtime's sessions take. */
  upload(values: Map<string, Float32Array>): Promise<TensorMap>;
  /** Tensors, on the device or not, back to host arrays. */
  download(tensors: TensorMap): Promise<Map<string, Float32Array>>;
  dispose(): Promise<void>;
}

/** What one onnxruntime build (and one of its execution providers) gives a training session. */
export interface TrainingRuntime {
  /** The execution provider, as users name it (`cpu`, `webgpu`, `cuda`, `wasm`); with its device index where there is one. */
  readonly device: { provider: string; deviceId?: number };
  /** A host tensor. */
  tensor(type: 'float32', data: Float32Array, dims: readonly number[]): Tensor;
  tensor(type: 'int64', data: BigInt64Array, dims: readonly number[]): Tensor;
  /**
   * A session of `graph`; the outputs named in `deviceOutputs` stay on the device where the provider allows it.
   * `memArena: false` returns a run's working memory when it ends (onnxruntime's CPU arena keeps it otherwise).
   */
  createSession(graph: BuiltGraph, deviceOutputs: readonly string[], opts?: { memArena?: boolean }): Promise<InferenceSession>;
  /** A transfer for tensors of these names and shapes. */
  transfer(specs: readonly ParamSpec[]): ParamTransfer;
}

/**
 * A batch's ids and targets as the graphs take them: [B, T, 1] for the training graph (the index layout its
 * GatherElements and ScatterND take, since webgpu cannot reshape int64), [B, T] for the forward graph. With `shape`,
 * a RangeError when the batch is another size than the session's.
 */
export function tokenFeeds(
  tensor: TrainingRuntime['tensor'],
  b: TokenBatch,
  layout: 'train' | 'forward',
  shape?: { batch: number; seq: number },
): Record<string, Tensor> {
  if (shape) checkBatchShape(b, shape);
  const dims = layout === 'train' ? [b.batch, b.seq, 1] : [b.batch, b.seq];
  return { input_ids: tensor('int64', b.ids, dims), targets: tensor('int64', b.targets, dims) };
}

/** A RangeError when `b` is another size than the session's (`which`: the batch's place among several). */
function checkBatchShape(b: TokenBatch, shape: { batch: number; seq: number }, which = ''): void {
  if (b.batch !== shape.batch || b.seq !== shape.seq)
    throw new RangeError(`this session takes batches of ${shape.batch}x${shape.seq}, got ${b.batch}x${b.seq}${which}`);
}

/** K batches of this session's shape as the Loop graph takes them: `input_ids` and `targets` [K, B, T, 1]. */
function loopTokenFeeds(
  tensor: TrainingRuntime['tensor'],
  batches: readonly TokenBatch[],
  shape: { batch: number; seq: number },
): Record<string, Tensor> {
  const n = shape.batch * shape.seq;
  const ids = new BigInt64Array(batches.length * n);
  const targets = new BigInt64Array(batches.length * n);
  batches.forEach((b, k) => {
    checkBatchShape(b, shape, ` (batch ${k})`);
    ids.set(b.ids, k * n);
    targets.set(b.targets, k * n);
  });
  const dims = [batches.length, shape.batch, shape.seq, 1];
  return { input_ids: tensor('int64', ids, dims), targets: tensor('int64', targets, dims) };
}

/** Frees device buffers; host tensors are left to the garbage collector. */
export function disposeAll(tensors: Iterable<Tensor>): void {
  for (const t of tensors) if (t.location === 'gpu-buffer') t.dispose();
}

export interface TrainStepResult {
  /** Mean cross-entropy of the step's batch before the update, nats. */
  loss: number;
  /** Global L2 norm of the gradient before clipping. */
  gradNorm: number;
}

/** The graph's outputs that carry state to the next step. */
const stateOutputs = (s: ParamSpec): string[] => [`new.${s.name}`, `new_m.${s.name}`, `new_v.${s.name}`];
/** The Loop graph's outputs that carry state to the next run. */
const finalOutputs = (s: ParamSpec): string[] => [`final.${s.name}`, `final_m.${s.name}`, `final_v.${s.name}`];

/**
 * A training session for one model config and one batch shape (`batch` rows of `seq` positions). Open it once
 * (`TrainSession.open`: builds the graphs and the onnxruntime sessions, which need only the config), then `start`
 * from weights as often as needed; `step` runs one AdamW step (`DEFAULT_ADAMW` unless given at open).
 */
export interface TrainSession {
  readonly runtime: TrainingRuntime;
  readonly cfg: ModelConfig;
  readonly batch: number;
  readonly seq: number;
  /** 'fused' or 'layerwise' (see the module comment). */
  readonly layout: TrainLayout;
  /** How the AdamW moments are kept: float32, or 8 bits a value (layer-wise only). */
  readonly moments: MomentFormat;
  /** fp32, or fp16: mixed precision (fused only). */
  readonly precision: Precision;
  /** Whether this session trains `cfg` at this batch shape. */
  fits(cfg: ModelConfig, shape: { batchSize: number; seqLen: number }): boolean;
  /** Starts again from `weights` (checked against the config), with zero AdamW moments at step 0. */
  start(weights: Weights): Promise<void>;
  /** AdamW steps taken since `start`. */
  readonly steps: number;
  /** One AdamW step at learning rate `lr` on a batch of exactly this session's shape. */
  step(b: TokenBatch, lr: number): Promise<TrainStepResult>;
  /**
   * Steps the session takes in one onnxruntime run at most (`stepMany`): 1, or unbounded (`Infinity`) for a fused
   * session in a loop, which keeps its state on the device through a run's steps.
   */
  readonly stepsPerRun: number;
  /** Why a session in a Loop went on a step a run (its device's memory ran out in a Loop run); else undefined. */
  readonly loopFellBack?: string;
  /**
   * One AdamW step on each batch, in order, at `lr` (one rate, or one a batch): the same as `step` on each, in as
   * few runs as the session can (at most `stepsPerRun` batches a run is best). One result a batch.
   */
  stepMany(batches: readonly TokenBatch[], lr: number | readonly number[]): Promise<TrainStepResult[]>;
  /** The current parameters, copied to the host. */
  weights(): Promise<Weights>;
  /**
   * The current parameters, handed to the caller with the session's state released (parameters and moments: call
   * `start` again before another step). Where the parameters are host arrays already (layer-wise; fused on cpu) they
   * are not copied, so taking them costs no memory beyond what the step held: the end of a task subtracts the start
   * weights from them in place (`trainTask`) instead of holding a copy and a delta beside the moments.
   */
  takeWeights(): Promise<Weights>;
  /** The current parameter tensors (device-resident on webgpu when fused), for a forward session on the same provider. */
  paramTensors(): TensorMap;
  release(): void;
  dispose(): Promise<void>;
}

export type { TrainLayout };

export interface TrainSessionShape {
  batch: number;
  seq: number;
  adamw?: AdamWOptions;
  /** Layer-wise (checkpointed, in-place optimizer) instead of the fused graph; see the module comment. */
  layerwise?: boolean;
  /** The AdamW moments' storage, layer-wise only: float32, or 8 bits a value (see quantized-moments.ts). */
  moments?: MomentFormat;
  /** Mixed precision, fused only: float16 products with float32 weights, moments and optimizer, and dynamic loss scaling. */
  precision?: Precision;
  /**
   * Fused only: run a call's steps (`stepMany`) in one onnxruntime run, as an ONNX Loop whose loop-carried values are
   * the parameters and moments (`buildTrainingLoopGraph`), so the state stays on the device from the run's first step
   * to its last on a provider whose outputs cannot stay on the device between runs. Default: on cuda (onnxruntime-node
   * binds no cuda memory), not elsewhere (webgpu keeps its outputs on the device between runs; on the cpu there is no
   * device).
   */
  loop?: boolean;
  /** Mixed precision: the loss scaling policy (default LOSS_SCALE). */
  lossScaling?: LossScaling;
}

/**
 * Dynamic loss scaling as PyTorch's GradScaler does it, with its defaults: start at 2^16, halve after a step whose
 * scaled gradients overflowed, double after 2000 steps without one. Unlike GradScaler, which drops the overflowed
 * batch, the session runs that batch again at the halved scale, and each task starts again at 2^16: a task is a fixed
 * number of steps on fixed batches, which a coordinator recomputes. A step still overflowing at scale 1 is reported
 * with a loss that is not finite (as divergence).
 */
export const LOSS_SCALE: LossScaling = { init: 2 ** 16, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000, min: 1 };

export const TrainSession = {
  /** Builds the graphs and sessions of the chosen layout for `cfg` at this shape. */
  async open(runtime: TrainingRuntime, cfg: ModelConfig, shape: TrainSessionShape): Promise<TrainSession> {
    if (shape.moments === 'int8' && !shape.layerwise) throw new RangeError('8-bit AdamW moments are kept by the layer-wise layout only');
    if (shape.precision === 'fp16' && shape.layerwise) throw new RangeError('mixed precision is trained by the fused layout only');
    return shape.layerwise ? LayerwiseTrainSession.open(runtime, cfg, shape) : FusedTrainSession.open(runtime, cfg, shape);
  },
};

/** Whether onnxruntime failed for want of memory (its arena's message, or CUDA's). */
function isOutOfMemory(err: unknown): boolean {
  return err instanceof Error && /Failed to allocate memory|out of memory|ALLOC_FAILED|smaller than requested bytes/i.test(err.message);
}

/** The policy, or a RangeError naming what is wrong with it (a bad one would loop for ever or never scale). */
function checkLossScaling(p: LossScaling): LossScaling {
  const bad = (what: string): never => {
    throw new RangeError(`loss scaling: ${what} (got ${JSON.stringify(p)})`);
  };
  // In float32, as the scale is kept (a backoff of 1 - 1e-9 is 1 there, 1e39 is Infinity).
  const f = Math.fround;
  if (!(f(p.min) > 0 && Number.isFinite(f(p.min)))) bad('min must be a finite float32 above 0');
  if (!(f(p.init) >= f(p.min) && Number.isFinite(f(p.init)))) bad('init must be a finite float32, at least min');
  if (!(f(p.backoffFactor) > 0 && f(p.backoffFactor) < 1)) bad('backoffFactor must be between 0 and 1 in float32');
  if (!(f(p.growthFactor) >= 1 && Number.isFinite(f(p.growthFactor)))) bad('growthFactor must be a finite float32, at least 1');
  if (!(Number.isInteger(p.growthInterval) && p.growthInterval >= 1)) bad('growthInterval must be a whole number of steps, at least 1');
  return p;
}

/** `stepMany` as one `step` after another, for sessions that take one step a run. */
export async function stepEach(
  session: Pick<TrainSession, 'step'>,
  batches: readonly TokenBatch[],
  lr: number | readonly number[],
): Promise<TrainStepResult[]> {
  const out: TrainStepResult[] = [];
  for (let i = 0; i < batches.length; i++) out.push(await session.step(batches[i]!, typeof lr === 'number' ? lr : lr[i]!));
  return out;
}

/** The same config and batch shape (the layout aside). */
export function sessionFits(s: TrainSession, cfg: ModelConfig, shape: { batchSize: number; seqLen: number }): boolean {
  return JSON.stringify(cfg) === JSON.stringify(s.cfg) && shape.batchSize === s.batch && shape.seqLen === s.seq;
}

/** The fused layout: one graph for forward, backward and AdamW (in a Loop over many steps where `loop` says so). */
export class FusedTrainSession implements TrainSession {
  readonly layout = 'fused';
  readonly moments = 'float32';
  /** Why the session left its Loop for a run a step (the device's memory ran out in a Loop run); else undefined. */
  loopFellBack?: string;
  private params: TensorMap = new Map();
  private m: TensorMap = new Map();
  private v: TensorMap = new Map();
  private stepCount = 0;
  private readonly specs: ParamSpec[];
  /** Mixed precision: the current loss scale, and steps since it last changed (see LOSS_SCALE). */
  lossScale: number;
  private goodSteps = 0;
  /** Mixed precision: steps run again at a lower loss scale (overflowed) since the session opened. */
  overflows = 0;

  private constructor(
    readonly runtime: TrainingRuntime,
    readonly cfg: ModelConfig,
    readonly batch: number,
    readonly seq: number,
    private session: InferenceSession | undefined,
    private readonly transfer: ParamTransfer,
    readonly precision: Precision,
    /** Whether `session` is the Loop graph (see TrainSessionShape.loop). */
    public loop: boolean,
    private readonly scaling: LossScaling,
    /** The one-step graph's options, to open it if the Loop's run out of memory. */
    private readonly graphOptions: TrainingGraphOptions,
  ) {
    this.specs = paramSpecs(cfg);
    this.lossScale = Math.fround(scaling.init);
  }

  get stepsPerRun(): number {
    return this.loop ? Number.POSITIVE_INFINITY : 1;
  }

  static async open(runtime: TrainingRuntime, cfg: ModelConfig, shape: TrainSessionShape): Promise<FusedTrainSession> {
    const specs = paramSpecs(cfg);
    const precision = shape.precision ?? 'fp32';
    const provider = runtime.device.provider;
    const loop = shape.loop ?? provider === 'cuda';
    // webgpu keeps a run's outputs on the device already, and has no Loop kernel (the state would go through the CPU).
    if (loop && provider !== 'cuda' && provider !== 'cpu')
      throw new RangeError(`the training Loop is for cuda (and the cpu), not ${provider}`);
    const scaling = checkLossScaling(shape.lossScaling ?? LOSS_SCALE);
    const opts = { batch: shape.batch, seq: shape.seq, optimizer: shape.adamw ?? DEFAULT_ADAMW, precision };
    const session = loop
      ? await runtime.createSession(buildTrainingLoopGraph(cfg, { ...opts, lossScaling: scaling }), specs.flatMap(finalOutputs))
      : await runtime.createSession(buildTrainingGraph(cfg, opts), specs.flatMap(stateOutputs));
    return new FusedTrainSession(runtime, cfg, shape.batch, shape.seq, session, runtime.transfer(specs), precision, loop, scaling, opts);
  }

  /**
   * Leaves the Loop for the one-step graph, run a step at a time: the Loop holds one more copy of the state on the
   * device (the run's input) than a step does, so a device with room for a step may have none for the Loop.
   */
  private async fallBack(why: string): Promise<void> {
    this.loop = false;
    this.loopFellBack = why;
    // The Loop's session goes first, with the device memory it holds. Should the one-step graph fail to open, the
    // session is left without one: later steps say so, and dispose() releases nothing twice.
    const loop = this.session;
    this.session = undefined;
    await loop?.release();
    this.session = await this.runtime.createSession(buildTrainingGraph(this.cfg, this.graphOptions), this.specs.flatMap(stateOutputs));
  }

  /** The onnxruntime session, or an Error when a fall back from the Loop could not open the one-step graph. */
  private get live(): InferenceSession {
    if (!this.session)
      throw new Error(`this training session has no graph (its Loop ran out of device memory: ${this.loopFellBack}); open another`);
    return this.session;
  }

  fits(cfg: ModelConfig, shape: { batchSize: number; seqLen: number }): boolean {
    return sessionFits(this, cfg, shape);
  }

  async start(weights: Weights): Promise<void> {
    checkWeights(this.cfg, weights);
    this.release();
    // Each task from GradScaler's initial scale: a task's update must not depend on the tasks trained before it (a
    // scale lowered by one bad task would make float16 underflow in the next, and its recomputation would not match).
    this.lossScale = Math.fround(this.scaling.init);
    this.goodSteps = 0;
    this.params = await this.transfer.upload(weights);
    const zeros = new Map(this.specs.map((s) => [s.name, new Float32Array(numel(s.shape))]));
    this.m = await this.transfer.upload(zeros);
    this.v = await this.transfer.upload(zeros);
    this.stepCount = 0;
  }

  get steps(): number {
    return this.stepCount;
  }

  async step(b: TokenBatch, lr: number): Promise<TrainStepResult> {
    if (this.loop) return (await this.runLoop([b], [lr]))[0]!;
    for (;;) {
      const r = await this.run(b, lr);
      // Mixed precision: the scaled gradients overflowed and the graph kept the state as it was (see adamWNodes). A
      // loss that is itself not finite is divergence, which no scale mends: the step is not run again, and its loss
      // says so (a miner reports the task diverged).
      const overflowed = this.precision !== 'fp32' && !Number.isFinite(r.gradNorm) && Number.isFinite(r.loss);
      if (overflowed && this.lossScale <= Math.fround(this.scaling.min)) {
        // Still overflowing at the smallest scale: the step could not be taken (the state is as it was). Its loss is
        // given as not finite, so that a miner reports the task diverged instead of sending a step short.
        this.stepCount++;
        return { loss: Number.NaN, gradNorm: r.gradNorm };
      }
      if (!overflowed) {
        this.stepCount++;
        if (++this.goodSteps >= this.scaling.growthInterval) {
          // float32, as the Loop graph keeps it, so both take the same steps whatever the factors.
          this.lossScale = Math.min(Math.fround(this.lossScale * Math.fround(this.scaling.growthFactor)), FLOAT32_MAX);
          this.goodSteps = 0;
        }
        return r;
      }
      this.lossScale = Math.fround(this.lossScale * Math.fround(this.scaling.backoffFactor));
      this.goodSteps = 0;
      this.overflows++;
    }
  }

  async stepMany(batches: readonly TokenBatch[], lr: number | readonly number[]): Promise<TrainStepResult[]> {
    const rates = typeof lr === 'number' ? batches.map(() => lr) : lr;
    if (rates.length !== batches.length) throw new RangeError(`${batches.length} batches and ${rates.length} learning rates`);
    return this.loop ? this.runLoop(batches, rates) : stepEach(this, batches, rates);
  }

  /**
   * The batches' steps in as few runs of the Loop graph as the loss scale allows (one, unless a run's iterations at
   * most ran out on retries), with the same results, loss scale and overflow count as `step` on each batch.
   */
  private async runLoop(batches: readonly TokenBatch[], rates: readonly number[]): Promise<TrainStepResult[]> {
    const rt = this.runtime;
    const results: TrainStepResult[] = [];
    while (results.length < batches.length) {
      if (this.params.size === 0) throw new Error('the training session has no weights: call start() first');
      const todo = batches.slice(results.length);
      const feeds = loopTokenFeeds(rt.tensor, todo, this);
      feeds.lr = rt.tensor('float32', Float32Array.from(rates.slice(results.length)), [todo.length]);
      feeds.steps_before = rt.tensor('float32', Float32Array.of(this.stepCount), []);
      // Each retry multiplies the scale by backoffFactor, and at the smallest scale a step is taken: so at most
      // log(scale / min) / log(1 / backoffFactor) retries come before a step (and the scale grows once in
      // growthInterval steps). A run that still stops short goes on in the next.
      const backoffs = Math.ceil(Math.log(this.lossScale / this.scaling.min) / Math.log(1 / this.scaling.backoffFactor));
      const retries = this.precision === 'fp32' ? 0 : Math.min(Math.max(0, backoffs), 4096) + 1;
      feeds.trip_count = rt.tensor('int64', BigInt64Array.of(BigInt(todo.length + retries)), []);
      if (this.precision !== 'fp32') {
        feeds.start_loss_scale = rt.tensor('float32', Float32Array.of(this.lossScale), []);
        feeds.start_good_steps = rt.tensor('float32', Float32Array.of(this.goodSteps), []);
      }
      for (const s of this.specs) {
        feeds[`start.${s.name}`] = this.params.get(s.name)!;
        feeds[`start_m.${s.name}`] = this.m.get(s.name)!;
        feeds[`start_v.${s.name}`] = this.v.get(s.name)!;
      }
      let out: Awaited<ReturnType<InferenceSession['run']>>;
      try {
        out = await this.live.run(feeds);
      } catch (err) {
        // The state is as it was (it is replaced only after a run): the rest of the batches go a step a run.
        if (!isOutOfMemory(err)) throw err;
        await this.fallBack((err as Error).message);
        results.push(...(await stepEach(this, todo, rates.slice(results.length))));
        break;
      }
      this.release();
      this.params = new Map(this.specs.map((s) => [s.name, out[`final.${s.name}`]!]));
      this.m = new Map(this.specs.map((s) => [s.name, out[`final_m.${s.name}`]!]));
      this.v = new Map(this.specs.map((s) => [s.name, out[`final_v.${s.name}`]!]));
      this.stepCount = (out['out.steps_done']!.data as Float32Array)[0]!;
      if (this.precision !== 'fp32') {
        this.lossScale = (out['out.loss_scale']!.data as Float32Array)[0]!;
        this.goodSteps = (out['out.good_steps']!.data as Float32Array)[0]!;
      }
      const [losses, norms, taken] = (['losses', 'grad_norms', 'taken'] as const).map((n) => out[n]!.data as Float32Array);
      for (let i = 0; i < taken!.length; i++) {
        if (taken![i]) results.push({ loss: losses![i]!, gradNorm: norms![i]! });
        else this.overflows++;
      }
    }
    return results;
  }

  private async run(b: TokenBatch, lr: number): Promise<TrainStepResult> {
    const rt = this.runtime;
    const feeds = tokenFeeds(rt.tensor, b, 'train', this);
    if (this.params.size === 0) throw new Error('the training session has no weights: call start() first');
    feeds.lr = rt.tensor('float32', Float32Array.of(lr), []);
    feeds.step = rt.tensor('float32', Float32Array.of(this.stepCount + 1), []);
    if (this.precision !== 'fp32') feeds.loss_scale = rt.tensor('float32', Float32Array.of(this.lossScale), []);
    for (const s of this.specs) {
      feeds[s.name] = this.params.get(s.name)!;
      feeds[`m.${s.name}`] = this.m.get(s.name)!;
      feeds[`v.${s.name}`] = this.v.get(s.name)!;
    }
    const out = await this.live.run(feeds);
    this.release();
    this.params = new Map(this.specs.map((s) => [s.name, out[`new.${s.name}`]!]));
    this.m = new Map(this.specs.map((s) => [s.name, out[`new_m.${s.name}`]!]));
    this.v = new Map(this.specs.map((s) => [s.name, out[`new_v.${s.name}`]!]));
    return { loss: (out.loss!.data as Float32Array)[0]!, gradNorm: (out.grad_norm!.data as Float32Array)[0]! };
  }

  async weights(): Promise<Weights> {
    return this.transfer.download(this.params);
  }

  async takeWeights(): Promise<Weights> {
    const weights = await this.transfer.download(this.params);
    this.release();
    return weights;
  }

  paramTensors(): TensorMap {
    return this.params;
  }

  release(): void {
    disposeAll([...this.params.values(), ...this.m.values(), ...this.v.values()]);
    this.params = new Map();
    this.m = new Map();
    this.v = new Map();
  }

  async dispose(): Promise<void> {
    this.release();
    await this.session?.release();
    await this.transfer.dispose();
  }
}
