// Picking the next token from logits: temperature, top-k, and a seeded generator so runs can be repeated.

export interface SamplingOptions {
  /** 0 picks the most likely token. */
  temperature: number;
  /** Keep only the k most likely tokens (0: all). */
  topK: number;
  seed: number;
}

export function makeSampler(opts: SamplingOptions): (logits: Float32Array) => number {
  let s = opts.seed >>> 0 || 1;
  const uniform = (): number => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  return (logits) => {
    if (opts.temperature <= 0) {
      let best = 0;
      for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
      return best;
    }
    let idx = Array.from(logits.keys());
    if (opts.topK > 0 && opts.topK < logits.length) idx = idx.sort((a, b) => logits[b]! - logits[a]!).slice(0, opts.topK);
    const max = Math.max(...idx.map((i) => logits[i]!));
    const w = idx.map((i) => Math.exp((logits[i]! - max) / opts.temperature));
    let r = uniform() * w.reduce((a, b) => a + b, 0);
    for (let j = 0; j < idx.length; j++) {
      r -= w[j]!;
      if (r <= 0) return idx[j]!;
    }
    return idx[idx.length - 1]!;
  };
}
