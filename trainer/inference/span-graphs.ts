/**
 * The graphs of distributed inference in the manner of Petals (Borzunov et al. 2023, "Petals: Collaborative
 * Inference and Fine-tuning of Large Models"): the node embeds tokens (`buildEmbedGraph`), each contributor runs its
 * span of blocks with a KV cache (`buildSpanBlockGraph`, one graph shared by every layer, as the layer-wise training
 * graphs share theirs), and the node applies the final LayerNorm and the tied head (`buildHeadGraph`). Composed in
 * order they compute what `buildForwardGraph` does, from the same emitters (gpt2-forward.ts, ops.ts). Batch 1;
 * sequence lengths are symbolic: T new positions, P cached, S = P + T.
 */
import { paramSpecs, type ModelConfig } from '../model/config.js';
import { GraphBuilder } from '../onnx/builder.js';
import { blockForward } from '../onnx/gpt2-forward.js';
import { blockParamSpecs, type BuiltGraph } from '../onnx/graphs.js';
import { embeddingOp, layerNormOp } from '../onnx/ops.js';

function finish(g: GraphBuilder, inputs: string[], outputs: string[], doc: string): BuiltGraph {
  return { bytes: g.toBytes(doc), inputs, outputs, nodeCount: g.nodeCount, opTypes: [...g.opTypes()].sort() };
}

function paramInputs(g: GraphBuilder, cfg: ModelConfig, names: readonly string[]): string[] {
  const shapes = new Map(paramSpecs(cfg).map((s) => [s.name, s.shape]));
  return names.map((n) => g.input(n, 'float32', shapes.get(n)!));
}

/**
 * Token and position embeddings. Inputs `wte.weight` [V, C], `wpe.weight` [n_positions, C], `input_ids` int64
 * [1, T], `position_ids` int64 [T]; output `hidden` float32 [1, T, C].
 */
export function buildEmbedGraph(cfg: ModelConfig): BuiltGraph {
  const g = new GraphBuilder('ailo_infer_embed');
  const inputs = paramInputs(g, cfg, ['wte.weight', 'wpe.weight']);
  const ids = g.input('input_ids', 'int64', [1, 'T']);
  const positions = g.input('position_ids', 'int64', ['T']);
  inputs.push(ids, positions);
  const x = embeddingOp.forward(g, ids, positions, cfg.n_embd);
  return finish(g, inputs, [g.output(x, 'hidden', 'float32', [1, 'T', cfg.n_embd])], 'AILO GPT-2 embeddings (inference)');
}

/**
 * One block with a KV cache, shared by every layer: it takes block 0's parameter names (`h.0.*`, see
 * `blockParamSpecs`) and the caller feeds layer i's tensors under them. Inputs those parameters, `hidden` [1, T, C],
 * `attn_bias` float32 [T, S] (`causalBias(T, P)`), `past.key` and `past.value` [1, H, P, D] (P may be 0); outputs
 * `hidden_out` [1, T, C] and `present.key`, `present.value` [1, H, S, D] (the cache with these T positions appended).
 */
export function buildSpanBlockGraph(cfg: ModelConfig): BuiltGraph {
  const g = new GraphBuilder('ailo_infer_block');
  const C = cfg.n_embd,
    H = cfg.n_head,
    D = C / H;
  const inputs = paramInputs(
    g,
    cfg,
    blockParamSpecs(cfg).map((s) => s.name),
  );
  const hidden = g.input('hidden', 'float32', [1, 'T', C]);
  const bias = g.input('attn_bias', 'float32', ['T', 'S']);
  const past = { key: g.input('past.key', 'float32', [1, H, 'P', D]), value: g.input('past.value', 'float32', [1, H, 'P', D]) };
  inputs.push(hidden, bias, past.key, past.value);
  const { y, present } = blockForward(g, cfg, hidden, 0, bias, past);
  const outputs = [
    g.output(y, 'hidden_out', 'float32', [1, 'T', C]),
    g.output(present.key, 'present.key', 'float32', [1, H, 'S', D]),
    g.output(present.value, 'present.value', 'float32', [1, H, 'S', D]),
  ];
  return finish(g, inputs, outputs, 'AILO GPT-2 block with KV cache (inference, shared by every layer)');
}

/**
 * The final LayerNorm and the tied head on the last position. Inputs `ln_f.weight`, `ln_f.bias` [C], `wte.weight`
 * [V, C], `hidden` [1, T, C] (the last block's output); output `logits` [1, V] of position T - 1.
 */
export function buildHeadGraph(cfg: ModelConfig): BuiltGraph {
  const g = new GraphBuilder('ailo_infer_head');
  const C = cfg.n_embd;
  const inputs = paramInputs(g, cfg, ['ln_f.weight', 'ln_f.bias', 'wte.weight']);
  const hidden = g.input('hidden', 'float32', [1, 'T', C]);
  inputs.push(hidden);
  // The last row before the LayerNorm: the head's work does not grow with T.
  const last = g.reshape(g.op('Slice', [hidden, g.i64([-1]), g.i64([2 ** 31 - 1]), g.i64([1])]), [1, C]);
  const lnf = layerNormOp.forward(g, last, 'ln_f', cfg.layer_norm_epsilon);
  const logits = g.matmul(lnf.y, g.transpose('wte.weight', [1, 0]));
  return finish(
    g,
    inputs,
    [g.output(logits, 'logits', 'float32', [1, cfg.vocab_size])],
    'AILO GPT-2 final LayerNorm and tied head (inference)',
  );
}
