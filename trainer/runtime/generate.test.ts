// Incremental decoding with the KV cache gives the same tokens as recomputing the whole window each time, also once
// the context is full (it shifts) and from a prompt longer than the context.
import { describe, expect, it } from 'vitest';
import type { ModelConfig } from '../model/config.js';
import { initWeights } from '../model/weights.js';
import { ForwardSession } from './model-session.js';
import type { Provider } from './provider.js';
import { makeSampler } from './sampling.js';

const cfg: ModelConfig = { vocab_size: 101, n_positions: 24, n_embd: 32, n_layer: 2, n_head: 4, n_inner: 64, layer_norm_epsilon: 1e-5 };

function argmax(x: Float32Array): number {
  let b = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[b]!) b = i;
  return b;
}

describe.each(['cpu', 'webgpu'] as Provider[])('generation on %s', (provider) => {
  it('greedy decoding with the KV cache equals full recomputation of the window, past n_positions and from a prompt longer than it', async () => {
    const w = initWeights(cfg, 3);
    for (const t of w.values()) for (let i = 0; i < t.length; i++) t[i]! *= 20; // sharper logits, fewer near-ties
    const fs = new ForwardSession(cfg, provider);
    await fs.setWeights(w);
    const greedy = makeSampler({ temperature: 0, topK: 0, seed: 1 });
    const next = async (window: number[]): Promise<number> => {
      const logits = await fs.logits(window);
      return argmax(logits.subarray(logits.length - cfg.vocab_size));
    };
    // The window as generate keeps it: the prompt's last n_positions - 1 tokens, shifted to its last half when full.
    const expected = async (prompt: number[], count: number): Promise<number[]> => {
      let window = prompt.slice(-(cfg.n_positions - 1));
      const out: number[] = [];
      while (out.length < count) {
        const tok = await next(window);
        out.push(tok);
        window.push(tok);
        if (window.length >= cfg.n_positions) window = window.slice(-cfg.n_positions / 2);
      }
      return out;
    };
    const prompt = [5, 17, 99];
    const out = await fs.generate(prompt, 40, greedy);
    expect(out).toHaveLength(40); // more than the 21 that fit after the prompt
    expect(out).toEqual(await expected(prompt, 40));
    const long = Array.from({ length: 30 }, (_, i) => (i * 37) % cfg.vocab_size);
    const fromLong = await fs.generate(long, 5, greedy);
    expect(fromLong).toEqual(await expected(long, 5));
    await fs.dispose();
  });
});

describe('sampling', () => {
  it('top-k keeps only the k best tokens and a seed repeats the draw', () => {
    const logits = Float32Array.from({ length: 50 }, (_, i) => (i % 7 === 0 ? 5 : 0));
    const s = makeSampler({ temperature: 1, topK: 3, seed: 9 });
    const draws = Array.from({ length: 200 }, () => s(logits));
    expect(new Set(draws).size).toBeLessThanOrEqual(3);
    for (const d of draws) expect(d % 7).toBe(0);
    const again = makeSampler({ temperature: 1, topK: 3, seed: 9 });
    expect(Array.from({ length: 200 }, () => again(logits))).toEqual(draws);
  });
});
