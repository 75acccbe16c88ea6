// The GPT-2 forward pass as ONNX nodes: embeddings, pre-LN blocks with causal attention and tanh GELU, final
// LayerNorm, tied output head. The training graph reuses it and keeps the intermediates its backward needs.
import type { ModelConfig } from '../model/config.js';
import { type GraphBuilder, int, ints } from './builder.js';

export const GELU_S = Math.sqrt(2 / Math.PI);
export const GELU_C = 0.044715;
/** Additive attention bias for masked positions; large enough that exp() underflows to 0 in float32. */
export const MASKED = -1e9;

export interface LayerNormOut {
  y: string;
  xhat: string;
  rstd: string;
}

/** LayerNorm over the last axis; also returns the normalized input and 1/std, which its backward uses. */
export function layerNorm(g: GraphBuilder, x: string, w: string, b: string, eps: number): LayerNormOut {
  const mu = g.reduceMean(x, [-1]);
  const xc = g.sub(x, mu);
  const variance = g.reduceMean(g.mul(xc, xc), [-1]);
  const rstd = g.div(g.scalar(1), g.op('Sqrt', [g.add(variance, g.scalar(eps))]));
  const xhat = g.mul(xc, rstd);
  return { y: g.add(g.mul(xhat, w), b), xhat, rstd };
}

export interface BlockSaved {
  x: string;
  ln1: LayerNormOut;
  q4: string;
  k4: string;
  v4: string;
  p: string;
  o3: string;
  x1: string;
  ln2: LayerNormOut;
  f: string;
  t: string;
  gl: string;
}

export interface ForwardOut {
  /** Output of the final LayerNorm, [B, T, C]. */
  hf: string;
  lnf: LayerNormOut;
  x0: string;
  blocks: BlockSaved[];
  presents: { key: string; value: string }[];
}

export interface ForwardInputs {
  ids: string; // int64 [B, T] or [B, T, 1]
  positions: string; // int64 [T]
  bias: string; // float [T, S] additive attention bias
  past?: { key: string; value: string }[]; // [B, H, P, D] per layer
}

/** Parameter value names are the parameter names themselves (the graph's inputs). */
export function forwardBody(g: GraphBuilder, cfg: ModelConfig, inp: ForwardInputs): ForwardOut {
  const C = cfg.n_embd;
  const H = cfg.n_head;
  const D = C / H;
  const eps = cfg.layer_norm_epsilon;
  const scale = g.scalar(1 / Math.sqrt(D));
  // ids may be [B, T] or [B, T, 1] (the training graph's layout); the Reshape folds the trailing 1 away.
  const tok = g.reshape(g.op('Gather', ['wte.weight', inp.ids], { axis: int(0) }), [0, 0, C]);
  const pos = g.op('Gather', ['wpe.weight', inp.positions], { axis: int(0) });
  const x0 = g.add(tok, pos);
  let x = x0;
  const blocks: BlockSaved[] = [];
  const presents: ForwardOut['presents'] = [];
  const splitSizes = g.i64([C, C, C]);
  for (let i = 0; i < cfg.n_layer; i++) {
    const h = `h.${i}`;
    const ln1 = layerNorm(g, x, `${h}.ln_1.weight`, `${h}.ln_1.bias`, eps);
    const qkv = g.add(g.matmul(ln1.y, `${h}.attn.c_attn.weight`), `${h}.attn.c_attn.bias`);
    const [q, k, v] = g.node('Split', [qkv, splitSizes], { axis: int(2) }, 3) as [string, string, string];
    const heads = (t: string): string => g.transpose(g.reshape(t, [0, 0, H, D]), [0, 2, 1, 3]);
    const q4 = heads(q);
    let k4 = heads(k);
    let v4 = heads(v);
    const past = inp.past?.[i];
    if (past) {
      k4 = g.op('Concat', [past.key, k4], { axis: int(2) });
      v4 = g.op('Concat', [past.value, v4], { axis: int(2) });
    }
    presents.push({ key: k4, value: v4 });
    const scores = g.add(g.mul(g.matmul(q4, g.transpose(k4, [0, 1, 3, 2])), scale), inp.bias);
    const p = g.op('Softmax', [scores], { axis: int(-1) });
    const o3 = g.reshape(g.transpose(g.matmul(p, v4), [0, 2, 1, 3]), [0, 0, C]);
    const y = g.add(g.matmul(o3, `${h}.attn.c_proj.weight`), `${h}.attn.c_proj.bias`);
    const x1 = g.add(x, y);
    const ln2 = layerNorm(g, x1, `${h}.ln_2.weight`, `${h}.ln_2.bias`, eps);
    const f = g.add(g.matmul(ln2.y, `${h}.mlp.c_fc.weight`), `${h}.mlp.c_fc.bias`);
    const f3 = g.mul(g.mul(f, f), f);
    const t = g.op('Tanh', [g.mul(g.add(f, g.mul(f3, g.scalar(GELU_C))), g.scalar(GELU_S))]);
    const gl = g.mul(g.mul(f, g.scalar(0.5)), g.add(t, g.scalar(1)));
    const z = g.add(g.matmul(gl, `${h}.mlp.c_proj.weight`), `${h}.mlp.c_proj.bias`);
    const x2 = g.add(x1, z);
    blocks.push({ x, ln1, q4, k4, v4, p, o3, x1, ln2, f, t, gl });
    x = x2;
  }
  const lnf = layerNorm(g, x, 'ln_f.weight', 'ln_f.bias', eps);
  return { hf: lnf.y, lnf, x0, blocks, presents };
}

/**
 * A float [N, V] one-hot of int64 ids [N]. Built as relu(1 - |id - v|) on floats (ids are exact in float32)
 * after a Gather from a 0..V-1 table, because webgpu runs no int64 Equal or Reshape kernels.
 */
export function oneHot(g: GraphBuilder, ids: string, vocab: number): string {
  const table = g.constant(
    Float32Array.from({ length: vocab }, (_, i) => i),
    [vocab],
    'float32',
    'vocab_values',
  );
  const idsF = g.reshape(g.op('Gather', [table, ids], { axis: int(0) }), [-1, 1]);
  const diff = g.op('Abs', [g.sub(idsF, g.reshape(table, [1, vocab]))]);
  return g.op('Relu', [g.sub(g.scalar(1), diff)]);
}

/** `nll` is the per-position loss [N]; `loss` its mean. */
export interface CrossEntropyOut {
  loss: string;
  nll: string;
  probs: string;
  target: string;
}

/** Mean cross-entropy of logits [N, V] against int64 targets (any shape with N elements). */
export function crossEntropy(g: GraphBuilder, logits2d: string, targets: string, vocab: number): CrossEntropyOut {
  const m = g.op('ReduceMax', [logits2d], { axes: ints([1]), keepdims: int(1) });
  const z = g.sub(logits2d, m);
  const e = g.op('Exp', [z]);
  const se = g.reduceSum(e, [1]);
  const target = oneHot(g, targets, vocab);
  const picked = g.reduceSum(g.mul(z, target), [1]);
  const nll = g.sub(g.op('Log', [se]), picked);
  const loss = g.reduceMean(nll, [0, 1], false);
  return { loss, nll, probs: g.div(e, se), target };
}
