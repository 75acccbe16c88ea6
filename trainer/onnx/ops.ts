/**
 * The model's ops, each as a pair of emitters: `forward` writes its nodes and returns what its backward needs
 * (`saved`), `backward` writes the nodes of its vector-Jacobian product and adds its parameters' gradients to
 * `ctx.grads`. The forward graph (`forwardBody`) and the training graph (`buildTrainingGraph`) are compositions of
 * these, so a fused or provider-specific variant of one op (a LayerNormalization kernel, flash attention) replaces
 * one object here and nothing else. Shapes: B batch, T positions, C width, H heads, D = C / H, N = B * T rows;
 * backward works on rows ([N, width]) where the op is row-wise. The derivations are the standard ones (e.g. the
 * LayerNorm and softmax VJPs of Karpathy's llm.c, `layernorm_backward` and `attention_backward`).
 */
import { type GraphBuilder, int } from './builder.js';

const GELU_S = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

/** What every backward emitter writes into: the graph, the row count, and the gradients by parameter name. */
export interface BackwardContext {
  g: GraphBuilder;
  /** Rows of the step, B x T. */
  N: number;
  grads: Map<string, string>;
  /**
   * Mixed precision: the loss scale (a float32 scalar value), by which the loss's gradient is multiplied before any
   * float16 product, so that small gradients do not underflow (Micikevicius et al., "Mixed Precision Training", 2018).
   * Every gradient is then scaled by it.
   */
  lossScale?: string;
}

/** `x` [B, T, width] (or [N, width]) as rows [N, width]. */
export const rows = (ctx: BackwardContext, x: string, width: number): string => ctx.g.reshape(x, [ctx.N, width]);

export interface LayerNormOut {
  y: string;
  xhat: string;
  rstd: string;
}

/** LayerNorm over the last axis with parameters `<name>.weight` and `<name>.bias` [C]. */
export const layerNormOp = {
  /** y = xhat * w + b, xhat = (x - mean) * rstd; keeps xhat and rstd [.., 1]. */
  forward(g: GraphBuilder, x: string, name: string, eps: number): LayerNormOut {
    const mu = g.reduceMean(x, [-1]);
    const xc = g.sub(x, mu);
    const variance = g.reduceMean(g.mul(xc, xc), [-1]);
    const rstd = g.div(g.scalar(1), g.op('Sqrt', [g.add(variance, g.scalar(eps))]));
    const xhat = g.mul(xc, rstd);
    return { y: g.add(g.mul(xhat, `${name}.weight`), `${name}.bias`), xhat, rstd };
  },
  /** dy [N, C] to dx [N, C]: rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * w. */
  backward(ctx: BackwardContext, dy: string, saved: LayerNormOut, name: string, C: number): string {
    const { g } = ctx;
    const xhat = rows(ctx, saved.xhat, C);
    const rstd = g.reshape(saved.rstd, [ctx.N, 1]);
    ctx.grads.set(`${name}.weight`, g.reduceSum(g.mul(dy, xhat), [0], false));
    ctx.grads.set(`${name}.bias`, g.reduceSum(dy, [0], false));
    const dxhat = g.mul(dy, `${name}.weight`);
    const inner = g.sub(g.sub(dxhat, g.reduceMean(dxhat, [-1])), g.mul(xhat, g.reduceMean(g.mul(dxhat, xhat), [-1])));
    return g.mul(inner, rstd);
  },
};

/** y = x W + b with `<name>.weight` [in, out] (GPT-2's Conv1D layout) and `<name>.bias` [out]. */
export const linearOp = {
  forward(g: GraphBuilder, x: string, name: string): string {
    return g.add(g.matmul(x, `${name}.weight`), `${name}.bias`);
  },
  /** dy [N, out], the input's rows x2d [N, in]: dW = x^T dy, db = sum dy, returns dx = dy W^T [N, in]. */
  backward(ctx: BackwardContext, dy: string, x2d: string, name: string): string {
    const { g } = ctx;
    ctx.grads.set(`${name}.weight`, g.gemm(x2d, dy, true, false));
    ctx.grads.set(`${name}.bias`, g.reduceSum(dy, [0], false));
    return g.gemm(dy, `${name}.weight`, false, true);
  },
};

export interface GeluSaved {
  /** The input. */
  f: string;
  /** tanh(s (f + c f^3)). */
  t: string;
}

/** GELU, tanh approximation (GPT-2's `gelu_new`): 0.5 f (1 + tanh(s (f + c f^3))), s = sqrt(2/pi), c = 0.044715. */
export const geluOp = {
  forward(g: GraphBuilder, f: string): { y: string; saved: GeluSaved } {
    const f3 = g.mul(g.mul(f, f), f);
    const t = g.op('Tanh', [g.mul(g.add(f, g.mul(f3, g.scalar(GELU_C))), g.scalar(GELU_S))]);
    return { y: g.mul(g.mul(f, g.scalar(0.5)), g.add(t, g.scalar(1))), saved: { f, t } };
  },
  /** dy [N, F] to df [N, F]: dy * (0.5 (1 + t) + 0.5 f (1 - t^2) s (1 + 3 c f^2)). */
  backward(ctx: BackwardContext, dy: string, saved: GeluSaved, F: number): string {
    const { g } = ctx;
    const f = rows(ctx, saved.f, F),
      t = rows(ctx, saved.t, F);
    const ff = g.mul(f, f);
    const dtanh = g.mul(g.sub(g.scalar(1), g.mul(t, t)), g.mul(g.add(g.mul(ff, g.scalar(3 * GELU_C * GELU_S)), g.scalar(GELU_S)), f));
    return g.mul(dy, g.mul(g.add(g.add(t, g.scalar(1)), dtanh), g.scalar(0.5)));
  },
};

export interface AttentionSaved {
  q4: string;
  k4: string;
  v4: string;
  /** Attention probabilities [B, H, T, S]. */
  p: string;
}

/** Scaled dot-product attention of heads [B, H, T, D] against keys and values [B, H, S, D] with an additive bias [T, S]. */
export const attentionOp = {
  /** softmax(q k^T / sqrt(D) + bias) v, [B, H, T, D]. */
  forward(g: GraphBuilder, q4: string, k4: string, v4: string, bias: string, D: number): { y: string; saved: AttentionSaved } {
    const scores = g.add(g.mul(g.matmul(q4, g.transpose(k4, [0, 1, 3, 2])), g.scalar(1 / Math.sqrt(D))), bias);
    const p = g.op('Softmax', [scores], { axis: int(-1) });
    return { y: g.matmul(p, v4), saved: { q4, k4, v4, p } };
  },
  /** dy [B, H, T, D] to dq, dk, dv: the softmax VJP p * (dp - sum(dp * p)), scaled by 1/sqrt(D). */
  backward(ctx: BackwardContext, dy: string, s: AttentionSaved, D: number): { dq: string; dk: string; dv: string } {
    const { g } = ctx;
    const dp = g.matmul(dy, g.transpose(s.v4, [0, 1, 3, 2]));
    const dv = g.matmul(g.transpose(s.p, [0, 1, 3, 2]), dy);
    const ds = g.mul(g.mul(s.p, g.sub(dp, g.reduceSum(g.mul(dp, s.p), [-1]))), g.scalar(1 / Math.sqrt(D)));
    return { dq: g.matmul(ds, s.k4), dk: g.matmul(g.transpose(ds, [0, 1, 3, 2]), s.q4), dv };
  },
};

/** Token and position embeddings: wte[ids] + wpe[positions], [B, T, C]. */
export const embeddingOp = {
  /** `ids` int64 [B, T] or [B, T, 1] (the Reshape folds the trailing 1 away), `positions` int64 [T]. */
  forward(g: GraphBuilder, ids: string, positions: string, C: number): string {
    const tok = g.reshape(g.op('Gather', ['wte.weight', ids], { axis: int(0) }), [0, 0, C]);
    return g.add(tok, g.op('Gather', ['wpe.weight', positions], { axis: int(0) }));
  },
  /**
   * dx [N, C] into wte's gradient (added to `dwteHead`, the tied head's share: the rows each token used get its
   * gradient, duplicates accumulating through ScatterND's add) and wpe's (summed over the batch, zero past T).
   */
  backward(
    ctx: BackwardContext,
    dx: string,
    ids: string,
    dwteHead: string,
    shape: { B: number; T: number; C: number; nPositions: number },
  ): void {
    const { g } = ctx;
    const { B, T, C } = shape;
    const dx3 = g.reshape(dx, [B, T, C]);
    ctx.grads.set('wte.weight', g.op('ScatterND', [dwteHead, ids, dx3], { reduction: { s: 'add' } }));
    const dpos = g.reduceSum(dx3, [0], false); // [T, C]
    ctx.grads.set(
      'wpe.weight',
      T === shape.nPositions ? dpos : g.op('Pad', [dpos, g.i64([0, 0, shape.nPositions - T, 0]), g.scalar(0)], { mode: { s: 'constant' } }),
    );
  },
};

interface HeadSaved {
  /** Softmax over the vocabulary, [B, T, V]. */
  probs: string;
  /** probs at each target, [B, T, 1]. */
  picked: string;
  /** The final LayerNorm's rows, [N, C]. */
  h2d: string;
}

/**
 * The tied output head and its mean cross-entropy: logits = h wte^T, loss = mean(-log softmax[target]). It keeps
 * three [N, V] tensors alive (logits, softmax, its gradient), which dominate a small model's step at GPT-2's
 * vocabulary, so the loss is read through GatherElements (no one-hot, no second pass for a log-sum-exp); the clip
 * only matters past 87 nats, where float32 softmax underflows. `targets` int64 [B, T, 1].
 */
export const tiedHeadLossOp = {
  forward(
    ctx: BackwardContext,
    h: string,
    targets: string,
    shape: { B: number; T: number; C: number; V: number },
  ): { loss: string; saved: HeadSaved } {
    const { g } = ctx;
    const h2d = rows(ctx, h, shape.C);
    const logits3 = g.reshape(g.gemm(h2d, 'wte.weight', false, true), [shape.B, shape.T, shape.V]);
    const probs = g.op('Softmax', [logits3], { axis: int(-1) });
    const picked = g.op('GatherElements', [probs, targets], { axis: int(2) });
    const nll = g.op('Neg', [g.op('Log', [g.op('Clip', [picked, g.scalar(1e-38), ''])])]);
    return { loss: g.reduceMean(nll, [0, 1, 2], false), saved: { probs, picked, h2d } };
  },
  /**
   * d loss / d logits = (softmax - onehot) / N; the 1/N is applied to the two products instead of the [N, V] tensor.
   * Returns dh [N, C] and the head's share of wte's gradient [V, C] (the embedding adds its own).
   */
  backward(ctx: BackwardContext, s: HeadSaved, targets: string, V: number): { dh: string; dwte: string } {
    const { g } = ctx;
    const dl = rows(ctx, g.op('ScatterElements', [s.probs, targets, g.sub(s.picked, g.scalar(1))], { axis: int(2) }), V);
    const invN = g.scalar(1 / ctx.N);
    if (ctx.lossScale) {
      // Scaled before the float16 products: (softmax - onehot) is about 1/V a value, below float16's normal range.
      const dls = g.mul(dl, g.mul(invN, ctx.lossScale));
      return { dwte: g.gemm(dls, s.h2d, true, false), dh: g.gemm(dls, 'wte.weight') };
    }
    return { dwte: g.mul(g.gemm(dl, s.h2d, true, false), invN), dh: g.mul(g.gemm(dl, 'wte.weight'), invN) };
  },
};
