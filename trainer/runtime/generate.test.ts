// Incremental decoding with the KV cache gives the same tokens as recomputing the whole sequence each time.
import { describe, expect, it } from "vitest";
import type { ModelConfig } from "../model/config.js";
import { initWeights } from "../model/weights.js";
import { ForwardSession } from "./model-session.js";
import type { Provider } from "./provider.js";
import { makeSampler } from "./sampling.js";

const cfg: ModelConfig = { vocab_size: 101, n_positions: 24, n_embd: 32, n_layer: 2, n_head: 4, n_inner: 64, layer_norm_epsilon: 1e-5 };

function argmax(x: Float32Array): number {
  let b = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[b]!) b = i;
  return b;
}

describe.each(["cpu", "webgpu"] as Provider[])("generation on %s", (provider) => {
  it("greedy decoding with the KV cache equals full recomputation, and stops at n_positions", async () => {
    const w = initWeights(cfg, 3);
    for (const t of w.values()) for (let i = 0; i < t.length; i++) t[i]! *= 20; // sharper logits, fewer near-ties
    const fs = new ForwardSession(cfg, provider);
    await fs.setWeights(w);
    const prompt = [5, 17, 99];
    const out = await fs.generate(prompt, 40, makeSampler({ temperature: 0, topK: 0, seed: 1 }));
    expect(out).toHaveLength(cfg.n_positions - prompt.length);
    const seq = [...prompt];
    for (const tok of out.slice(0, 8)) {
      const logits = await fs.logits(seq);
      expect(tok).toBe(argmax(logits.subarray(logits.length - cfg.vocab_size)));
      seq.push(tok);
    }
    await fs.dispose();
  });
});

describe("sampling", () => {
  it("top-k keeps only the k best tokens and a seed repeats the draw", () => {
    const logits = Float32Array.from({ length: 50 }, (_, i) => (i % 7 === 0 ? 5 : 0));
    const s = makeSampler({ temperature: 1, topK: 3, seed: 9 });
    const draws = Array.from({ length: 200 }, () => s(logits));
    expect(new Set(draws).size).toBeLessThanOrEqual(3);
    for (const d of draws) expect(d % 7).toBe(0);
    const again = makeSampler({ temperature: 1, topK: 3, seed: 9 });
    expect(Array.from({ length: 200 }, () => again(logits))).toEqual(draws);
  });
});
