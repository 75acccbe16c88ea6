// The model's ONNX graphs: forward (logits, KV cache, loss), training (loss and every parameter's gradient: each
// op's backward emitter from ops.ts, in reverse order), and the AdamW optimizer step. Parameters are graph inputs named
// as in the safetensors file; gradients are outputs named `grad.<param>`.
import { type ModelConfig, paramSpecs, type ParamSpec } from '../model/config.js';
import { type Dim, type ElemType, GraphBuilder, graph, int } from './builder.js';
import { blockForward, crossEntropy, forwardBody, MASKED, type BlockSaved } from './gpt2-forward.js';
import { attentionOp, embeddingOp, geluOp, layerNormOp, linearOp, rows, tiedHeadLossOp, type BackwardContext } from './ops.js';

export interface BuiltGraph {
  bytes: Uint8Array;
  inputs: string[];
  outputs: string[];
  nodeCount: number;
  opTypes: string[];
}

function finish(g: GraphBuilder, inputs: string[], outputs: string[], doc: string): BuiltGraph {
  return { bytes: g.toBytes(doc), inputs, outputs, nodeCount: g.nodeCount, opTypes: [...g.opTypes()].sort() };
}

function addParamInputs(g: GraphBuilder, cfg: ModelConfig, prefix = ''): ParamSpec[] {
  const specs = paramSpecs(cfg);
  for (const s of specs) g.input(prefix + s.name, 'float32', s.shape);
  return specs;
}

/** Additive causal bias [T, T]: 0 on and below the diagonal, MASKED above. */
export function causalBias(T: number, past = 0): Float32Array {
  const S = past + T;
  const b = new Float32Array(T * S);
  for (let i = 0; i < T; i++) for (let j = past + i + 1; j < S; j++) b[i * S + j] = MASKED;
  return b;
}

export interface ForwardGraphOptions {
  /** Output logits [B, T, V]. */
  logits?: boolean;
  /** Take `targets` [B, T] and output the mean cross-entropy `loss` and each row's mean, `row_loss` [B]. */
  loss?: boolean;
  /** Take `past.{i}.key/value` and output `present.{i}.key/value` ([B, H, S, D]) for incremental decoding. */
  past?: boolean;
  presents?: boolean;
}

/**
 * Inputs: parameters, `input_ids` int64 [B, T], `position_ids` int64 [T], `attn_bias` float [T, S] (see
 * causalBias), and with `past`, the cache. Batch and sequence lengths are symbolic.
 */
export function buildForwardGraph(cfg: ModelConfig, opts: ForwardGraphOptions = { logits: true }): BuiltGraph {
  const g = new GraphBuilder('ailo_forward');
  const C = cfg.n_embd,
    H = cfg.n_head,
    D = C / H,
    V = cfg.vocab_size;
  const specs = addParamInputs(g, cfg);
  const inputs = specs.map((s) => s.name);
  const ids = g.input('input_ids', 'int64', ['B', 'T']);
  const positions = g.input('position_ids', 'int64', ['T']);
  const bias = g.input('attn_bias', 'float32', ['T', 'S']);
  inputs.push(ids, positions, bias);
  let past: { key: string; value: string }[] | undefined;
  if (opts.past) {
    past = [];
    for (let i = 0; i < cfg.n_layer; i++) {
      const key = g.input(`past.${i}.key`, 'float32', ['B', H, 'P', D]);
      const value = g.input(`past.${i}.value`, 'float32', ['B', H, 'P', D]);
      past.push({ key, value });
      inputs.push(key, value);
    }
  }
  const fwd = forwardBody(g, cfg, { ids, positions, bias, past });
  const outputs: string[] = [];
  const logits = g.matmul(fwd.hf, g.transpose('wte.weight', [1, 0]));
  if (opts.logits) outputs.push(g.output(logits, 'logits', 'float32', ['B', 'T', V]));
  if (opts.loss) {
    const targets = g.input('targets', 'int64', ['B', 'T']);
    inputs.push(targets);
    const ce = crossEntropy(g, g.reshape(logits, [-1, V]), targets, V);
    outputs.push(g.output(ce.loss, 'loss', 'float32', []));
    const perPosition = g.op('Reshape', [ce.nll, g.op('Shape', [targets])]);
    outputs.push(g.output(g.reduceMean(perPosition, [1], false), 'row_loss', 'float32', ['B']));
  }
  if (opts.presents || opts.past) {
    fwd.presents.forEach((p, i) => {
      outputs.push(g.output(p.key, `present.${i}.key`, 'float32', ['B', H, 'S', D]));
      outputs.push(g.output(p.value, `present.${i}.value`, 'float32', ['B', H, 'S', D]));
    });
  }
  return finish(g, inputs, outputs, 'AILO GPT-2 forward');
}

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this value (0 turns clipping off). */
  clipNorm: number;
}

export const DEFAULT_ADAMW: AdamWOptions = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clipNorm: 1.0 };

/** GPT-2 practice: decay matrices and embeddings, not biases or LayerNorm parameters. */
export function decays(spec: ParamSpec): boolean {
  return spec.kind === 'matrix' || spec.kind === 'embedding';
}

/**
 * AdamW with global-norm clipping, for params `p`, grads `g`, moments `m`, `v`; `lr` and `step` (1-based,
 * float) are scalar inputs. Writes `new.<p>`, `new_m.<p>`, `new_v.<p>` and the pre-clip `grad_norm`.
 */
function adamWNodes(
  g: GraphBuilder,
  specs: ParamSpec[],
  grads: Map<string, string>,
  opt: AdamWOptions,
  lr: string,
  step: string,
  /** Mixed precision: the loss scale the gradients carry; they are unscaled, and a non-finite step changes nothing. */
  lossScale?: string,
): Map<string, { p: string; m: string; v: string }> & { gradNorm?: string } {
  let sumsq: string | undefined;
  for (const s of specs) {
    const gs = g.op('ReduceSumSquare', [grads.get(s.name)!], { keepdims: int(0) });
    sumsq = sumsq ? g.add(sumsq, gs) : gs;
  }
  const invScale = lossScale ? g.div(g.scalar(1), lossScale) : undefined;
  const norm = invScale ? g.mul(g.op('Sqrt', [sumsq!]), invScale) : g.op('Sqrt', [sumsq!]);
  let clip = g.scalar(1);
  if (opt.clipNorm > 0) {
    clip = g.op('Clip', [g.div(g.scalar(opt.clipNorm), g.add(norm, g.scalar(1e-6))), '', g.scalar(1)]);
  }
  const bc1 = g.sub(g.scalar(1), g.op('Pow', [g.scalar(opt.beta1), step]));
  const bc2 = g.sub(g.scalar(1), g.op('Pow', [g.scalar(opt.beta2), step]));
  // Fold the bias corrections, the clip factor and the loss scale's inverse into scalars once:
  // p -= lr * (m/bc1) / (sqrt(v/bc2) + eps).
  const gClip = invScale ? g.mul(clip, invScale) : clip;
  const gScaleM = g.mul(gClip, g.scalar(1 - opt.beta1));
  const clip2 = g.mul(gClip, gClip);
  const gScaleV = g.mul(clip2, g.scalar(1 - opt.beta2));
  // A scaled gradient that overflowed float16 (inf or NaN anywhere makes the norm so): the state is kept as it was,
  // as PyTorch's GradScaler skips optimizer.step(); NaN < inf is false.
  const finite = lossScale ? g.op('Less', [norm, g.scalar(Infinity)]) : undefined;
  const keep = (next: string, prev: string): string => (finite ? g.op('Where', [finite, next, prev]) : next);
  const stepSize = g.div(lr, bc1);
  const sqrtBc2 = g.op('Sqrt', [bc2]);
  const decayFactor = g.sub(g.scalar(1), g.mul(lr, g.scalar(opt.weightDecay)));
  const out = new Map<string, { p: string; m: string; v: string }>() as Map<string, { p: string; m: string; v: string }> & {
    gradNorm?: string;
  };
  for (const s of specs) {
    const grad = grads.get(s.name)!;
    const m = g.add(g.mul(`m.${s.name}`, g.scalar(opt.beta1)), g.mul(grad, gScaleM));
    const v = g.add(g.mul(`v.${s.name}`, g.scalar(opt.beta2)), g.mul(g.mul(grad, grad), gScaleV));
    const denom = g.add(g.div(g.op('Sqrt', [v]), sqrtBc2), g.scalar(opt.eps));
    const upd = g.mul(g.div(m, denom), stepSize);
    const base = decays(s) && opt.weightDecay > 0 ? g.mul(s.name, decayFactor) : s.name;
    out.set(s.name, { p: keep(g.sub(base, upd), s.name), m: keep(m, `m.${s.name}`), v: keep(v, `v.${s.name}`) });
  }
  out.gradNorm = norm;
  return out;
}

function addOptimizerOutputs(g: GraphBuilder, specs: ParamSpec[], upd: ReturnType<typeof adamWNodes>, outputs: string[]): void {
  for (const s of specs) {
    const u = upd.get(s.name)!;
    outputs.push(g.output(u.p, `new.${s.name}`, 'float32', s.shape));
    outputs.push(g.output(u.m, `new_m.${s.name}`, 'float32', s.shape));
    outputs.push(g.output(u.v, `new_v.${s.name}`, 'float32', s.shape));
  }
  outputs.push(g.output(upd.gradNorm!, 'grad_norm', 'float32', []));
}

function addStateInputs(g: GraphBuilder, specs: ParamSpec[], inputs: string[]): { lr: string; step: string } {
  for (const s of specs) inputs.push(g.input(`m.${s.name}`, 'float32', s.shape));
  for (const s of specs) inputs.push(g.input(`v.${s.name}`, 'float32', s.shape));
  const lr = g.input('lr', 'float32', []);
  const step = g.input('step', 'float32', []);
  inputs.push(lr, step);
  return { lr, step };
}

/** The optimizer alone: inputs params, `grad.<p>`, `m.<p>`, `v.<p>`, `lr`, `step`. */
export function buildOptimizerGraph(cfg: ModelConfig, opt: AdamWOptions = DEFAULT_ADAMW): BuiltGraph {
  const g = new GraphBuilder('ailo_adamw');
  const specs = addParamInputs(g, cfg);
  const inputs = specs.map((s) => s.name);
  const grads = new Map<string, string>();
  for (const s of specs) grads.set(s.name, g.input(`grad.${s.name}`, 'float32', s.shape));
  inputs.push(...specs.map((s) => `grad.${s.name}`));
  const { lr, step } = addStateInputs(g, specs, inputs);
  const outputs: string[] = [];
  addOptimizerOutputs(g, specs, adamWNodes(g, specs, grads, opt, lr, step), outputs);
  return finish(g, inputs, outputs, 'AILO AdamW step');
}

/**
 * The backward of block `i` (see blockForward): `dy` [N, C] is the gradient at the block's output; adds the block's
 * parameter gradients to `ctx.grads` and returns the gradient at its input, [N, C] (the residual path and both
 * branches).
 */
export function blockBackward(ctx: BackwardContext, cfg: ModelConfig, dy: string, s: BlockSaved, i: number, B: number, T: number): string {
  const { g, N } = ctx;
  const C = cfg.n_embd,
    H = cfg.n_head,
    D = C / H,
    F = cfg.n_inner;
  const h = `h.${i}`;
  const fromHeads = (t4: string): string => g.reshape(g.transpose(t4, [0, 2, 1, 3]), [N, C]);
  // MLP
  const dgl = linearOp.backward(ctx, dy, rows(ctx, s.gl, F), `${h}.mlp.c_proj`);
  const dm = linearOp.backward(ctx, geluOp.backward(ctx, dgl, s.gelu, F), rows(ctx, s.ln2.y, C), `${h}.mlp.c_fc`);
  const dx1 = g.add(dy, layerNormOp.backward(ctx, dm, s.ln2, `${h}.ln_2`, C));
  // attention
  const do3 = linearOp.backward(ctx, dx1, rows(ctx, s.o3, C), `${h}.attn.c_proj`);
  const d = attentionOp.backward(ctx, g.transpose(g.reshape(do3, [B, T, H, D]), [0, 2, 1, 3]), s.attn, D);
  const dqkv = g.op('Concat', [fromHeads(d.dq), fromHeads(d.dk), fromHeads(d.dv)], { axis: int(1) });
  const da = linearOp.backward(ctx, dqkv, rows(ctx, s.ln1.y, C), `${h}.attn.c_attn`);
  return g.add(dx1, layerNormOp.backward(ctx, da, s.ln1, `${h}.ln_1`, C));
}

/**
 * fp32: float32 throughout. fp16: mixed precision (float16 products, float32 weights and the rest; see
 * GraphBuilder.autocast). fp16-emulated: the same products with their operands and results rounded to float16's 11
 * significant bits in float32 (no range limit): what a coordinator's CPU recomputes a cuda fp16 task with.
 */
export type Precision = 'fp32' | 'fp16' | 'fp16-emulated';

export interface TrainingGraphOptions {
  batch: number;
  seq: number;
  /** Fuse the AdamW step into the graph: then it outputs new params and moments instead of gradients. */
  optimizer?: AdamWOptions;
  /** 'fp16' adds the float32 scalar input `loss_scale` (dynamic loss scaling is the caller's: see FusedTrainSession). */
  precision?: Precision;
}

/**
 * Inputs: parameters, `input_ids` and `targets` int64 [B, T, 1] (static sizes), and with fp16 `loss_scale`. Outputs
 * the mean cross-entropy `loss` and `grad.<param>` for every parameter, unscaled (or, with `optimizer`, the updated
 * state and `grad_norm`, unscaled: non-finite when the scaled gradients overflowed, and then the state is unchanged).
 */
export function buildTrainingGraph(cfg: ModelConfig, opts: TrainingGraphOptions): BuiltGraph {
  const { batch: B, seq: T } = opts;
  const g = new GraphBuilder('ailo_train');
  const specs = addParamInputs(g, cfg);
  const inputs = specs.map((s) => s.name);
  // [B, T, 1]: the index layout GatherElements/ScatterND/ScatterElements take, since webgpu cannot reshape int64.
  const ids = g.input('input_ids', 'int64', [B, T, 1]);
  const targets = g.input('targets', 'int64', [B, T, 1]);
  inputs.push(ids, targets);
  let lossScale: string | undefined;
  if (opts.precision === 'fp16' || opts.precision === 'fp16-emulated') inputs.push((lossScale = g.input('loss_scale', 'float32', [])));
  const { loss, grads } = lossAndGradients(g, cfg, opts, ids, targets, lossScale);

  const outputs = [g.output(loss, 'loss', 'float32', [])];
  if (opts.optimizer) {
    const { lr, step } = addStateInputs(g, specs, inputs);
    addOptimizerOutputs(g, specs, adamWNodes(g, specs, grads, opts.optimizer, lr, step, lossScale), outputs);
  } else {
    const invScale = lossScale && g.div(g.scalar(1), lossScale);
    for (const sp of specs) {
      const grad = invScale ? g.mul(grads.get(sp.name)!, invScale) : grads.get(sp.name)!;
      outputs.push(g.output(grad, `grad.${sp.name}`, 'float32', sp.shape));
    }
  }
  return finish(g, inputs, outputs, opts.optimizer ? 'AILO GPT-2 train step (loss, backward, AdamW)' : 'AILO GPT-2 loss and gradients');
}

/**
 * The mean cross-entropy of `ids` [B, T, 1] against `targets` and every parameter's gradient (by name; scaled by
 * `lossScale` where given), added to `g`, which already has the parameters by their names.
 */
function lossAndGradients(
  g: GraphBuilder,
  cfg: ModelConfig,
  opts: TrainingGraphOptions,
  ids: string,
  targets: string,
  lossScale: string | undefined,
): { loss: string; grads: Map<string, string> } {
  const { batch: B, seq: T } = opts;
  if (T > cfg.n_positions) throw new RangeError(`sequence length ${T} exceeds n_positions ${cfg.n_positions}`);
  const C = cfg.n_embd,
    V = cfg.vocab_size,
    N = B * T;
  const positions = g.constant(
    Array.from({ length: T }, (_, i) => i),
    [T],
    'int64',
    'positions',
  );
  const bias = g.constant(causalBias(T), [T, T], 'float32', 'causal_bias');
  if (lossScale) g.autocast = opts.precision === 'fp16' ? 'float16' : 'float16-emulated';
  const fwd = forwardBody(g, cfg, { ids, positions, bias });
  const ctx: BackwardContext = { g, N, grads: new Map(), lossScale };
  const head = tiedHeadLossOp.forward(ctx, fwd.hf, targets, { B, T, C, V });

  // Backward: each op's emitter in reverse order, on rows [N, width].
  const dHead = tiedHeadLossOp.backward(ctx, head.saved, targets, V);
  let dx = layerNormOp.backward(ctx, dHead.dh, fwd.lnf, 'ln_f', C);
  for (let i = cfg.n_layer - 1; i >= 0; i--) dx = blockBackward(ctx, cfg, dx, fwd.blocks[i]!, i, B, T);
  embeddingOp.backward(ctx, dx, ids, dHead.dwte, { B, T, C, nPositions: cfg.n_positions });
  return { loss: head.loss, grads: ctx.grads };
}

/** The largest float32: a loss scale grows no further (in the Loop graph and in `FusedTrainSession.step`). */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** Dynamic loss scaling's policy (train-session.ts's LOSS_SCALE: PyTorch GradScaler's defaults). */
export interface LossScaling {
  /** The scale a session starts at (a task starts there again). */
  init: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
  /** The smallest scale: a step that still overflows there is taken as diverged (its loss reported as NaN). */
  min: number;
}

export interface TrainingLoopGraphOptions extends TrainingGraphOptions {
  optimizer: AdamWOptions;
  /** With fp16 precision: how the loop moves the loss scale (required then). */
  lossScaling?: LossScaling;
}

/**
 * Many AdamW steps in one run: the fused train step as the body of an ONNX `Loop`, its parameters and moments the
 * loop-carried values, so a provider that cannot leave a run's outputs on the device (onnxruntime-node's cuda: its
 * binding has no cuda memory to bind) still keeps the state there from the first step of a run to the last.
 *
 * Inputs: `start.<p>`, `start_m.<p>`, `start_v.<p>` (the state), `input_ids` and `targets` int64 [K, B, T, 1] (the
 * K batches), `lr` float32 [K], `steps_before` (AdamW steps taken before this run, float32 scalar), `trip_count`
 * (int64 scalar: iterations at most), and with fp16 `start_loss_scale` and `start_good_steps` (float32 scalars).
 * Each iteration trains batch `batches_done` (one step), except that with fp16 an iteration whose scaled gradients
 * overflowed keeps the state, halves the scale and trains the same batch again, as `FusedTrainSession.step` does;
 * the loop ends when the K batches are done or after `trip_count` iterations.
 * Outputs: `final.<p>`, `final_m.<p>`, `final_v.<p>`; `out.steps_done` (float32), `out.batches_done` (int64), with
 * fp16 `out.loss_scale` and `out.good_steps`; and per iteration, [I]: `losses` (NaN where a step overflowed at the
 * smallest scale), `grad_norms` (pre-clip, unscaled) and `taken` (1 where the iteration took a step, 0 where it ran
 * its batch again).
 */
export function buildTrainingLoopGraph(cfg: ModelConfig, opts: TrainingLoopGraphOptions): BuiltGraph {
  const { batch: B, seq: T } = opts;
  const mixed = opts.precision === 'fp16' || opts.precision === 'fp16-emulated';
  if (mixed && !opts.lossScaling) throw new RangeError('a mixed-precision training loop needs its loss scaling policy');
  const specs = paramSpecs(cfg);
  /** `<p>.<param>`, `<p>_m.<param>`, `<p>_v.<param>`: parameters, then first and second moments. */
  const state = (p: string): string[] => ['.', '_m.', '_v.'].flatMap((kind) => specs.map((s) => `${p}${kind}${s.name}`));
  const shapes = [...specs, ...specs, ...specs].map((s) => s.shape);

  // The body: (iteration, condition, state..., steps_done, batch_index[, loss_scale, good_steps]) ->
  // (condition, state..., the same scalars) and the iteration's scan outputs.
  const b = new GraphBuilder('ailo_train_step', 'body.');
  b.input('iteration', 'int64', []);
  b.input('condition', 'bool', []);
  for (const s of specs) b.input(s.name, 'float32', s.shape);
  for (const s of specs) b.input(`m.${s.name}`, 'float32', s.shape);
  for (const s of specs) b.input(`v.${s.name}`, 'float32', s.shape);
  const stepsDone = b.input('steps_done', 'float32', []);
  const batchIndex = b.input('batch_index', 'int64', []);
  const lossScale = mixed ? b.input('loss_scale', 'float32', []) : undefined;
  const goodSteps = mixed ? b.input('good_steps', 'float32', []) : undefined;
  // The outer graph's inputs, read from the body (ONNX's outer scope).
  const ids = b.op('Gather', ['input_ids', batchIndex], { axis: int(0) });
  const targets = b.op('Gather', ['targets', batchIndex], { axis: int(0) });
  const lr = b.op('Gather', ['lr', batchIndex], { axis: int(0) });
  const batches = b.op('Gather', [b.op('Shape', ['lr']), b.constant([0], [], 'int64')], { axis: int(0) });
  const { loss, grads } = lossAndGradients(b, cfg, opts, ids, targets, lossScale);
  b.autocast = undefined; // the optimizer and the control below stay float32
  const upd = adamWNodes(b, specs, grads, opts.optimizer, lr, b.add(stepsDone, b.scalar(1)), lossScale);
  const norm = upd.gradNorm!;

  const scalars: { name: string; value: string }[] = [];
  // Whether the iteration took its step (fp32: always), and the loss it reports.
  let taken: string;
  let reportedLoss = loss;
  if (!mixed) taken = b.cast(b.constant([1], [], 'int64'), 'bool');
  else {
    const p = opts.lossScaling!;
    // FusedTrainSession.step's rule: overflowed = the gradient norm is not finite while the loss is.
    const finite = (x: string): string => b.op('Not', [b.op('Or', [b.op('IsNaN', [x]), b.op('IsInf', [x])])]);
    const overflowed = b.op('And', [b.op('Not', [finite(norm)]), finite(loss)]);
    const atMin = b.op('LessOrEqual', [lossScale!, b.scalar(p.min)]);
    const retry = b.op('And', [overflowed, b.op('Not', [atMin])]);
    taken = b.op('Not', [retry]);
    // A step that overflowed at the smallest scale is counted, with its loss not finite (divergence).
    reportedLoss = b.op('Where', [b.op('And', [overflowed, atMin]), b.scalar(Number.NaN), loss]);
    // A good step counts toward growth; growthInterval good steps multiply the scale by growthFactor; a retry, by
    // backoffFactor (all in float32, as FusedTrainSession.step keeps the scale).
    const counted = b.op('Where', [b.op('Not', [overflowed]), b.add(goodSteps!, b.scalar(1)), goodSteps!]);
    const grow = b.op('GreaterOrEqual', [counted, b.scalar(p.growthInterval)]);
    const grown = b.op('Where', [grow, b.op('Min', [b.mul(lossScale!, b.scalar(p.growthFactor)), b.scalar(FLOAT32_MAX)]), lossScale!]);
    scalars.push(
      { name: 'loss_scale', value: b.op('Where', [retry, b.mul(lossScale!, b.scalar(p.backoffFactor)), grown]) },
      { name: 'good_steps', value: b.op('Where', [b.op('Or', [retry, grow]), b.scalar(0), counted]) },
    );
  }
  const takenF = b.cast(taken, 'float32');
  const nextBatch = b.add(batchIndex, b.cast(taken, 'int64'));
  b.output(b.op('Less', [nextBatch, batches]), 'condition_out', 'bool', []);
  for (const s of specs) b.output(upd.get(s.name)!.p, `new.${s.name}`, 'float32', s.shape);
  for (const s of specs) b.output(upd.get(s.name)!.m, `new_m.${s.name}`, 'float32', s.shape);
  for (const s of specs) b.output(upd.get(s.name)!.v, `new_v.${s.name}`, 'float32', s.shape);
  b.output(b.add(stepsDone, takenF), 'next.steps_done', 'float32', []);
  b.output(nextBatch, 'next.batch_index', 'int64', []);
  for (const x of scalars) b.output(x.value, `next.${x.name}`, 'float32', []);
  b.output(reportedLoss, 'step.loss', 'float32', []);
  b.output(norm, 'step.grad_norm', 'float32', []);
  b.output(takenF, 'step.taken', 'float32', []);

  // The outer graph: the Loop over the body, its outputs named as the graph's (no copies of the state).
  const g = new GraphBuilder('ailo_train_loop');
  const starts = state('start');
  starts.forEach((name, i) => g.input(name, 'float32', shapes[i]!));
  const inputs = [...starts];
  inputs.push(g.input('input_ids', 'int64', ['K', B, T, 1]), g.input('targets', 'int64', ['K', B, T, 1]), g.input('lr', 'float32', ['K']));
  inputs.push(g.input('steps_before', 'float32', []), g.input('trip_count', 'int64', []));
  const extra = mixed ? [g.input('start_loss_scale', 'float32', []), g.input('start_good_steps', 'float32', [])] : [];
  inputs.push(...extra);
  const finals = state('final');
  const scalarOuts = ['out.steps_done', 'out.batches_done', ...(mixed ? ['out.loss_scale', 'out.good_steps'] : [])];
  const scanOuts = ['losses', 'grad_norms', 'taken'];
  const zero = g.constant([0], [], 'int64');
  const someBatches = g.op('Greater', [g.op('Gather', [g.op('Shape', ['lr']), zero], { axis: int(0) }), zero]);
  g.named('Loop', ['trip_count', someBatches, ...starts, 'steps_before', zero, ...extra], [...finals, ...scalarOuts, ...scanOuts], {
    body: graph(b.toGraphProto()),
  });
  const outputs = [
    ...finals.map((name, i) => g.output(name, name, 'float32', shapes[i]!)),
    g.output('out.steps_done', 'out.steps_done', 'float32', []),
    g.output('out.batches_done', 'out.batches_done', 'int64', []),
    ...scalarOuts.slice(2).map((name) => g.output(name, name, 'float32', [])),
    ...scanOuts.map((name) => g.output(name, name, 'float32', ['I'])),
  ];
  const built = finish(g, inputs, outputs, 'AILO GPT-2 train steps (a Loop over loss, backward, AdamW)');
  return { ...built, nodeCount: built.nodeCount + b.nodeCount, opTypes: [...new Set([...built.opTypes, ...b.opTypes()])].sort() };
}

export type { Dim, ElemType };

/**
 * The graphs of a layer-wise training step: activation checkpointing at block boundaries, in the manner of
 * Chen et al., "Training Deep Nets with Sublinear Memory Cost" (2016). The step keeps only each block's input
 * [B, T, C]; the backward of a block recomputes its forward from that input. One block graph serves every layer: it
 * takes block 0's parameter names (`h.0.*`) and the caller feeds layer i's tensors under them. Static sizes B x T.
 * - `embed`: `input_ids` int64 [B, T, 1], `wte.weight`, `wpe.weight` -> `x` [B, T, C]
 * - `block`: `x`, `h.0.*` -> `y` [B, T, C]
 * - `blockBackward`: `x`, `h.0.*`, `dy` [B, T, C] -> `dx` [B, T, C], `grad.h.0.*`
 * - `head`: `x` (the last block's output), `ln_f.*`, `wte.weight`, `targets` int64 [B, T, 1] -> `loss` (mean
 *   cross-entropy, nats), `dx`, `grad.ln_f.*`, `grad.wte.head` [V, C] (the tied head's share of wte's gradient)
 * - `embedBackward`: `input_ids`, `dx`, `grad.wte.head` -> `grad.wte.weight`, `grad.wpe.weight`
 * Composed in order, the gradients equal `buildTrainingGraph`'s (the same emitters; float rounding aside).
 */
export interface LayerwiseGraphs {
  embed: BuiltGraph;
  block: BuiltGraph;
  blockBackward: BuiltGraph;
  head: BuiltGraph;
  embedBackward: BuiltGraph;
}

/** Block 0's parameters: the names the block graphs take for every layer. */
export function blockParamSpecs(cfg: ModelConfig): ParamSpec[] {
  return paramSpecs(cfg).filter((s) => s.name.startsWith('h.0.'));
}

export function buildLayerwiseGraphs(cfg: ModelConfig, shape: { batch: number; seq: number }): LayerwiseGraphs {
  const { batch: B, seq: T } = shape;
  if (T > cfg.n_positions) throw new RangeError(`sequence length ${T} exceeds n_positions ${cfg.n_positions}`);
  const C = cfg.n_embd,
    V = cfg.vocab_size,
    N = B * T;
  const specs = new Map(paramSpecs(cfg).map((s) => [s.name, s]));
  const params = (g: GraphBuilder, names: string[]): string[] => names.map((n) => g.input(n, 'float32', specs.get(n)!.shape));
  const blockSpecs = blockParamSpecs(cfg);
  const blockNames = blockSpecs.map((s) => s.name);
  const hidden = (g: GraphBuilder, name: string): string => g.input(name, 'float32', [B, T, C]);
  const idsInput = (g: GraphBuilder): string => g.input('input_ids', 'int64', [B, T, 1]);
  const positions = (g: GraphBuilder): string =>
    g.constant(
      Array.from({ length: T }, (_, i) => i),
      [T],
      'int64',
      'positions',
    );
  const causal = (g: GraphBuilder): string => g.constant(causalBias(T), [T, T], 'float32', 'causal_bias');

  const embed = ((): BuiltGraph => {
    const g = new GraphBuilder('ailo_embed');
    const inputs = [idsInput(g), ...params(g, ['wte.weight', 'wpe.weight'])];
    const x = embeddingOp.forward(g, 'input_ids', positions(g), C);
    return finish(g, inputs, [g.output(x, 'x', 'float32', [B, T, C])], 'AILO GPT-2 embeddings');
  })();

  const block = ((): BuiltGraph => {
    const g = new GraphBuilder('ailo_block');
    const inputs = [hidden(g, 'x'), ...params(g, blockNames)];
    const { y } = blockForward(g, cfg, 'x', 0, causal(g));
    return finish(g, inputs, [g.output(y, 'y', 'float32', [B, T, C])], 'AILO GPT-2 block (forward)');
  })();

  const blockBackwardGraph = ((): BuiltGraph => {
    const g = new GraphBuilder('ailo_block_backward');
    const inputs = [hidden(g, 'x'), ...params(g, blockNames), hidden(g, 'dy')];
    const { saved } = blockForward(g, cfg, 'x', 0, causal(g)); // recomputed: only the block's input was kept
    const ctx: BackwardContext = { g, N, grads: new Map() };
    const dx = blockBackward(ctx, cfg, rows(ctx, 'dy', C), saved, 0, B, T);
    const outputs = [g.output(g.reshape(dx, [B, T, C]), 'dx', 'float32', [B, T, C])];
    for (const s of blockSpecs) outputs.push(g.output(ctx.grads.get(s.name)!, `grad.${s.name}`, 'float32', s.shape));
    return finish(g, inputs, outputs, 'AILO GPT-2 block (recomputed forward, backward)');
  })();

  const head = ((): BuiltGraph => {
    const g = new GraphBuilder('ailo_head');
    const targets = g.input('targets', 'int64', [B, T, 1]);
    const inputs = [hidden(g, 'x'), ...params(g, ['ln_f.weight', 'ln_f.bias', 'wte.weight']), targets];
    const ctx: BackwardContext = { g, N, grads: new Map() };
    const lnf = layerNormOp.forward(g, 'x', 'ln_f', cfg.layer_norm_epsilon);
    const out = tiedHeadLossOp.forward(ctx, lnf.y, targets, { B, T, C, V });
    const d = tiedHeadLossOp.backward(ctx, out.saved, targets, V);
    const dx = layerNormOp.backward(ctx, d.dh, lnf, 'ln_f', C);
    const outputs = [
      g.output(out.loss, 'loss', 'float32', []),
      g.output(g.reshape(dx, [B, T, C]), 'dx', 'float32', [B, T, C]),
      g.output(ctx.grads.get('ln_f.weight')!, 'grad.ln_f.weight', 'float32', [C]),
      g.output(ctx.grads.get('ln_f.bias')!, 'grad.ln_f.bias', 'float32', [C]),
      g.output(d.dwte, 'grad.wte.head', 'float32', [V, C]),
    ];
    return finish(g, inputs, outputs, 'AILO GPT-2 head (final LayerNorm, tied head, loss and backward)');
  })();

  const embedBackward = ((): BuiltGraph => {
    const g = new GraphBuilder('ailo_embed_backward');
    const inputs = [idsInput(g), hidden(g, 'dx'), g.input('grad.wte.head', 'float32', [V, C])];
    const ctx: BackwardContext = { g, N, grads: new Map() };
    embeddingOp.backward(ctx, rows(ctx, 'dx', C), 'input_ids', 'grad.wte.head', { B, T, C, nPositions: cfg.n_positions });
    const outputs = ['wte.weight', 'wpe.weight'].map((n) => g.output(ctx.grads.get(n)!, `grad.${n}`, 'float32', specs.get(n)!.shape));
    return finish(g, inputs, outputs, 'AILO GPT-2 embeddings (backward)');
  })();

  return { embed, block, blockBackward: blockBackwardGraph, head, embedBackward };
}
