// The GPT-2 forward pass as ONNX nodes, composed of the ops in ops.ts: embeddings, pre-LN blocks with causal
// attention and tanh GELU, final LayerNorm (the tied output head is the caller's). The training graph reuses it and
// keeps what each op's backward needs.
import type { ModelConfig } from '../model/config.js';
import { type GraphBuilder, int, ints } from './builder.js';
import { attentionOp, embeddingOp, geluOp, layerNormOp, linearOp, type AttentionSaved, type GeluSaved, type LayerNormOut } from './ops.js';

/** Additive attention bias for masked positions; large enough that exp() underflows to 0 in float32. */
export const MASKED = -1e9;

/** What one block's backward needs: each op's saved values and the inputs of its linear layers. */
export interface BlockSaved {
  ln1: LayerNormOut;
  attn: AttentionSaved;
  /** The attention's output heads merged, [B, T, C] (c_proj's input). */
  o3: string;
  ln2: LayerNormOut;
  gelu: GeluSaved;
  /** GELU's output, [B, T, F] (mlp.c_proj's input). */
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
  const x0 = embeddingOp.forward(g, inp.ids, inp.positions, cfg.n_embd);
  let x = x0;
  const blocks: BlockSaved[] = [];
  const presents: ForwardOut['presents'] = [];
  for (let i = 0; i < cfg.n_layer; i++) {
    const block = blockForward(g, cfg, x, i, inp.bias, inp.past?.[i]);
    x = block.y;
    blocks.push(block.saved);
    presents.push(block.present);
  }
  const lnf = layerNormOp.forward(g, x, 'ln_f', cfg.layer_norm_epsilon);
  return { hf: lnf.y, lnf, x0, blocks, presents };
}

/**
 * Block `i` (parameters `h.<i>.*`) on `x` [B, T, C]: pre-LN causal self-attention and the tanh-GELU MLP, each added
 * to the residual stream. `bias` [T, S] is the additive attention mask; with `past` ([B, H, P, D] each) the keys and
 * values are appended to the cache. Returns the block's output [B, T, C], what its backward needs, and the present
 * keys and values [B, H, S, D].
 */
export function blockForward(
  g: GraphBuilder,
  cfg: ModelConfig,
  x: string,
  i: number,
  bias: string,
  past?: { key: string; value: string },
): { y: string; saved: BlockSaved; present: { key: string; value: string } } {
  const C = cfg.n_embd;
  const H = cfg.n_head;
  const D = C / H;
  const eps = cfg.layer_norm_epsilon;
  const h = `h.${i}`;
  const ln1 = layerNormOp.forward(g, x, `${h}.ln_1`, eps);
  const qkv = linearOp.forward(g, ln1.y, `${h}.attn.c_attn`);
  const [q, k, v] = g.node('Split', [qkv, g.i64([C, C, C])], { axis: int(2) }, 3) as [string, string, string];
  const heads = (t: string): string => g.transpose(g.reshape(t, [0, 0, H, D]), [0, 2, 1, 3]);
  let k4 = heads(k);
  let v4 = heads(v);
  if (past) {
    k4 = g.op('Concat', [past.key, k4], { axis: int(2) });
    v4 = g.op('Concat', [past.value, v4], { axis: int(2) });
  }
  const attn = attentionOp.forward(g, heads(q), k4, v4, bias, D);
  const o3 = g.reshape(g.transpose(attn.y, [0, 2, 1, 3]), [0, 0, C]);
  const x1 = g.add(x, linearOp.forward(g, o3, `${h}.attn.c_proj`));
  const ln2 = layerNormOp.forward(g, x1, `${h}.ln_2`, eps);
  const gelu = geluOp.forward(g, linearOp.forward(g, ln2.y, `${h}.mlp.c_fc`));
  const y = g.add(x1, linearOp.forward(g, gelu.y, `${h}.mlp.c_proj`));
  return { y, saved: { ln1, attn: attn.saved, o3, ln2, gelu: gelu.saved, gl: gelu.y }, present: { key: k4, value: v4 } };
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
