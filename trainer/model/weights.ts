// The parameter set of a model: float32 tensors by Hugging Face GPT-2 name, and its deterministic GPT-2 init.
import { TrainerError, TrainerErrorCode } from '../errors.js';
import { type ModelConfig, numel, paramSpecs } from './config.js';

export type Weights = Map<string, Float32Array>;

/** A xoshiro128** stream seeded from (seed, tensor name), so each tensor's init is independent of the others. */
function tensorRng(seed: number, name: string): () => number {
  // FNV-1a over the name, mixed with the seed through splitmix32 to fill the state.
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  let x = (h ^ Math.imul(seed | 0, 0x9e3779b9)) >>> 0;
  const splitmix = (): number => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix(),
    b = splitmix(),
    c = splitmix(),
    d = splitmix();
  return () => {
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return r;
  };
}

function rotl(v: number, k: number): number {
  return (v << k) | (v >>> (32 - k));
}

/**
 * GPT-2 initialization: N(0, 0.02) for embeddings and matrices, 0.02/sqrt(2 n_layer) for residual projections, LN
 * weight 1, biases 0; the same weights for the same (config, seed) on every machine. `onProgress` is told the fraction
 * of parameters made after each tensor (ailo-1b takes about 30 s here).
 */
export function initWeights(cfg: ModelConfig, seed: number, onProgress?: (fraction: number) => void): Weights {
  if (!Number.isSafeInteger(seed)) throw new TrainerError(TrainerErrorCode.BAD_ARGUMENT, `seed must be an integer, got ${seed}`);
  const w: Weights = new Map();
  const specs = paramSpecs(cfg);
  const total = specs.reduce((n, s) => n + numel(s.shape), 0);
  let made = 0;
  for (const spec of specs) {
    const t = new Float32Array(numel(spec.shape));
    if (spec.kind === 'norm_weight') t.fill(1);
    else if (spec.initStd > 0) {
      const next = tensorRng(seed, spec.name);
      for (let i = 0; i < t.length; i += 2) {
        // Box-Muller on two 32-bit uniforms in (0, 1].
        const u1 = (next() + 1) / 4294967296;
        const u2 = next() / 4294967296;
        const r = Math.sqrt(-2 * Math.log(u1)) * spec.initStd;
        t[i] = r * Math.cos(2 * Math.PI * u2);
        if (i + 1 < t.length) t[i + 1] = r * Math.sin(2 * Math.PI * u2);
      }
    }
    w.set(spec.name, t);
    made += t.length;
    onProgress?.(made / total);
  }
  return w;
}

/** Checks that `w` holds exactly the config's tensors with the right sizes. */
export function checkWeights(cfg: ModelConfig, w: Weights, shapes?: Map<string, number[]>): void {
  const specs = paramSpecs(cfg);
  for (const spec of specs) {
    const t = w.get(spec.name);
    if (!t)
      throw new TrainerError(
        TrainerErrorCode.SHAPE_MISMATCH,
        `weights lack tensor "${spec.name}" that the config needs (shape [${spec.shape}])`,
      );
    const shape = shapes?.get(spec.name);
    if (shape && (shape.length !== spec.shape.length || shape.some((d, i) => d !== spec.shape[i]))) {
      throw new TrainerError(
        TrainerErrorCode.SHAPE_MISMATCH,
        `tensor "${spec.name}" has shape [${shape}] but the config needs [${spec.shape}]`,
      );
    }
    if (t.length !== numel(spec.shape)) {
      throw new TrainerError(
        TrainerErrorCode.SHAPE_MISMATCH,
        `tensor "${spec.name}" has ${t.length} values but the config needs [${spec.shape}] (${numel(spec.shape)})`,
      );
    }
  }
  if (w.size !== specs.length) {
    const known = new Set(specs.map((s) => s.name));
    const extra = [...w.keys()].filter((k) => !known.has(k));
    throw new TrainerError(
      TrainerErrorCode.SHAPE_MISMATCH,
      `weights hold tensors the config does not have: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}`,
    );
  }
}

/** `to - from` per tensor, in `from`'s order: a local training run's update (pseudo-gradient). */
export function weightDelta(from: Weights, to: Weights): Weights {
  return deltaOf(from, to, (w1) => new Float32Array(w1.length));
}

/**
 * `weightDelta` written over `to`'s own arrays, for a caller done with `to` (the end of a training task): no memory
 * beyond the two models (an ailo-1b delta is 3.3 GB).
 */
export function weightDeltaInPlace(from: Weights, to: Weights): Weights {
  return deltaOf(from, to, (w1) => w1);
}

function deltaOf(from: Weights, to: Weights, out: (w1: Float32Array) => Float32Array): Weights {
  const delta: Weights = new Map();
  for (const [name, w0] of from) {
    const w1 = to.get(name);
    if (!w1 || w1.length !== w0.length) throw new RangeError(`tensor ${name}: no matching tensor to subtract from`);
    const d = out(w1);
    for (let i = 0; i < d.length; i++) d[i] = w1[i]! - w0[i]!;
    delta.set(name, d);
  }
  return delta;
}
