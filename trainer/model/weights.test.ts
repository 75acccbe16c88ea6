/** The genesis init: the same bytes for the same (config, seed), told progress as it goes (ailo-1b takes ~30 s). */
import { describe, expect, it } from 'vitest';
import type { ModelConfig } from './config.js';
import { initWeights } from './weights.js';

const cfg: ModelConfig = { vocab_size: 53, n_positions: 16, n_embd: 16, n_layer: 2, n_head: 4, n_inner: 32, layer_norm_epsilon: 1e-5 };

describe('initWeights', () => {
  it('gives the same weights for the same seed, others for another, and tells its progress up to 1', () => {
    const seen: number[] = [];
    const a = initWeights(cfg, 1, (f) => seen.push(f));
    const b = initWeights(cfg, 1);
    const c = initWeights(cfg, 2);
    for (const [name, t] of a) expect(b.get(name)).toEqual(t);
    expect(c.get('wte.weight')).not.toEqual(a.get('wte.weight'));
    expect(seen).toHaveLength(a.size);
    expect(seen.every((f, i) => f > 0 && (i === 0 || f >= seen[i - 1]!))).toBe(true);
    expect(seen.at(-1)).toBe(1);
  });
});
