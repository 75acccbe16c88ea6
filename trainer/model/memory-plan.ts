// What a training step holds in memory, computed from the config: the plan a miner checks its device against.
import { type ModelConfig, paramCount } from './config.js';

export interface MemoryPlan {
  params: number;
  /** Bytes per category (float32). */
  weights: number;
  gradients: number;
  adamMoments: number;
  /** The fused step's outputs (new params and moments) exist while its inputs are still held. */
  updatedState: number;
  /** Activations the backward keeps, all layers. */
  activations: number;
  /** Head tensors of [B*T, vocab] alive at once: logits, softmax, its gradient. */
  head: number;
  total: number;
}

export function trainingMemoryPlan(cfg: ModelConfig, batch: number, seq: number): MemoryPlan {
  const P = paramCount(cfg);
  const N = batch * seq,
    C = cfg.n_embd,
    F = cfg.n_inner,
    H = cfg.n_head;
  // Per layer: x, ln1 (xhat, y), q/k/v, o, x1, ln2 (xhat, y) = 10 [N, C]; f, tanh(f), gelu(f) = 3 [N, F];
  // two rstd vectors; the attention probabilities [B, H, T, T].
  const perLayer = N * (10 * C + 3 * F + 2) + batch * H * seq * seq;
  const activations = 4 * (cfg.n_layer * perLayer + 3 * N * C);
  const head = 3 * 4 * N * cfg.vocab_size;
  const plan = { params: P, weights: 4 * P, gradients: 4 * P, adamMoments: 8 * P, updatedState: 12 * P, activations, head, total: 0 };
  plan.total = plan.weights + plan.gradients + plan.adamMoments + plan.updatedState + plan.activations + plan.head;
  return plan;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 2)} ${units[i]}`;
}
