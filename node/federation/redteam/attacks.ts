/**
 * The red team's update builders: for a task (and what an attacker can get hold of: the version's weights, public text,
 * the public corpus's held-out split, a colluder's accepted update, published versions), the bytes of one fake or
 * shortcut submission. Each is well formed and within the task's bounds, so only the coordinator's scoring and copy
 * checks stand between it and a reward.
 */
import type { CompressedUpdate } from '../../../trainer/codec/compress.js';
import { decodeUpdate, encodeUpdate, UpdateEncoding, type ModelUpdate, type TensorUpdate } from '../../../trainer/codec/update-codec.js';
import { encodeText } from '../../../trainer/corpus/tokenizer.js';
import { trainLocally, type LocalTrainingTask } from '../../../trainer/federated/local-training.js';
import { compressTaskUpdate } from '../../../trainer/federated/task-update.js';
import { numel, paramSpecs, type ModelConfig } from '../../../trainer/model/config.js';
import type { Weights } from '../../../trainer/model/weights.js';

/** The parts of a task an update builder needs: its local training and the coordinator's bounds. */
export interface AttackTask extends LocalTrainingTask {
  density: number;
  maxAbs: number;
}

/** Uniform numbers in [0, 1): mulberry32, so a run can be repeated from its seed. */
export type Rng = () => number;

export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

export function tensorSizes(cfg: ModelConfig): Map<string, number> {
  return new Map(paramSpecs(cfg).map((s) => [s.name, numel(s.shape)]));
}

export function decodeFor(cfg: ModelConfig, bytes: Uint8Array): ModelUpdate {
  return decodeUpdate(bytes, tensorSizes(cfg));
}

/** What the miner sends for `delta`: top-k at the task's density, clipped to its bound, q8, with mean rows. */
export function compressLikeMiner(cfg: ModelConfig, delta: Weights, task: AttackTask): CompressedUpdate {
  return compressTaskUpdate(cfg, delta, task);
}

/** Gaussian noise of standard deviation `sigma` on every weight, sent as the miner sends an update (no training). */
export function noiseUpdate(cfg: ModelConfig, task: AttackTask, sigma: number, rng: Rng): Uint8Array {
  const delta: Weights = new Map();
  for (const s of paramSpecs(cfg)) {
    const d = new Float32Array(numel(s.shape));
    for (let i = 0; i < d.length; i++) d[i] = sigma * gaussian(rng);
    delta.set(s.name, d);
  }
  return compressLikeMiner(cfg, delta, task).bytes;
}

/**
 * Real local training (`trainLocally`, the miner's code) from `base` on `tokens`, which hold `steps` batches of the
 * task's shape; `steps` and `lr` default to the task's.
 */
export async function trainedUpdate(
  cfg: ModelConfig,
  base: Weights,
  tokens: Uint16Array,
  task: AttackTask,
  o: { steps?: number; lr?: number } = {},
): Promise<{ bytes: Uint8Array; delta: Weights }> {
  const local: LocalTrainingTask = { steps: o.steps ?? task.steps, batchSize: task.batchSize, seqLen: task.seqLen, lr: o.lr ?? task.lr };
  const result = await trainLocally(cfg, 'cpu', base, tokens, local);
  if (!result) throw new Error('local training stopped before its last step');
  return { bytes: compressLikeMiner(cfg, result.update, task).bytes, delta: result.update };
}

/** `rows` rows of `width` tokens taken in turn from `source` (cut into rows), starting over when it runs out. */
export function cycleRows(source: Uint16Array, width: number, rows: number): Uint16Array {
  const available = Math.floor(source.length / width);
  if (available === 0) throw new RangeError(`need at least one row of ${width} tokens, have ${source.length} tokens`);
  const out = new Uint16Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(source.subarray((r % available) * width, ((r % available) + 1) * width), r * width);
  return out;
}

/** Text tokenized with the network's GPT-2 tokenizer, as rows for `steps` batches of the task's shape. */
export function textTokens(text: string, task: AttackTask, steps = task.steps): Uint16Array {
  return cycleRows(Uint16Array.from(encodeText(text)), task.seqLen + 1, steps * task.batchSize);
}

/**
 * The task's rows with held-out rows mixed in, for `steps` batches: in every batch, the last `evalFraction` of the
 * rows are taken from `evalRows` in turn (1: held-out rows only), the others from the task's rows in order (cycled).
 */
export function mixHeldOut(
  taskTokens: Uint16Array,
  evalRows: Uint16Array,
  task: AttackTask,
  evalFraction: number,
  steps = task.steps,
): Uint16Array {
  const width = task.seqLen + 1;
  const fromEval = Math.round(task.batchSize * evalFraction);
  const held = cycleRows(evalRows, width, steps * fromEval);
  const own = cycleRows(taskTokens, width, steps * (task.batchSize - fromEval));
  const out = new Uint16Array(steps * task.batchSize * width);
  let t = 0;
  let e = 0;
  for (let s = 0; s < steps; s++) {
    for (let r = 0; r < task.batchSize; r++) {
      const at = (s * task.batchSize + r) * width;
      if (r < task.batchSize - fromEval) out.set(own.subarray(t * width, ++t * width), at);
      else out.set(held.subarray(e * width, ++e * width), at);
    }
  }
  return out;
}

/**
 * An update made of a `fraction` of another update's values (their indices and values; every mean row whole), the
 * rest of its value budget filled with noise of the same spread at other positions (kept within `maxAbs`), or left out.
 */
export function partialCopy(source: ModelUpdate, fraction: number, rest: 'noise' | 'zero', maxAbs: number, rng: Rng): Uint8Array {
  const out: ModelUpdate = [];
  for (const t of source) {
    if (t.indices === null) throw new Error(`tensor ${t.name} is dense; copies are built from sparse updates`);
    const n = t.values.length;
    const keep = Math.round(n * fraction);
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const entries = new Map<number, number>();
    for (let j = 0; j < keep; j++) entries.set(t.indices[order[j]!]!, t.values[order[j]!]!);
    if (rest === 'noise' && keep < n) {
      let sq = 0;
      for (const v of t.values) sq += v * v;
      const rms = Math.sqrt(sq / n);
      // The weight changes by value + mean row; noise stays inside the bound so that only the copy checks can refuse it.
      const bound = 0.97 * maxAbs;
      const noise = (i: number): number => {
        const m = (t.lowRank ?? []).reduce((sum, f) => sum + f.u[Math.floor(i / f.v.length)]! * f.v[i % f.v.length]!, 0);
        return Math.max(-bound - m, Math.min(bound - m, rms * gaussian(rng)));
      };
      const free = t.numel - keep;
      const fill = n - keep;
      if (free <= 4 * fill) {
        const open = Array.from({ length: t.numel }, (_, i) => i).filter((i) => !entries.has(i));
        for (let j = 0; j < fill; j++) {
          const k = j + Math.floor(rng() * (open.length - j));
          [open[j], open[k]] = [open[k]!, open[j]!];
          entries.set(open[j]!, noise(open[j]!));
        }
      } else {
        while (entries.size < n) {
          const i = Math.floor(rng() * t.numel);
          if (!entries.has(i)) entries.set(i, noise(i));
        }
      }
    }
    const indices = Uint32Array.from([...entries.keys()].sort((a, b) => a - b));
    out.push({
      ...t,
      indices,
      values: Float32Array.from(indices, (i) => entries.get(i)!),
      lowRank: t.lowRank && t.lowRank.map((f) => ({ u: Float32Array.from(f.u), v: Float32Array.from(f.v) })),
    });
  }
  return encodeUpdate(out);
}

/** `factor` times an update (values and mean rows), in the same encoding. */
export function scaledUpdate(source: ModelUpdate, factor: number): Uint8Array {
  return encodeUpdate(
    source.map((t): TensorUpdate => ({
      ...t,
      values: t.values.map((v) => v * factor),
      lowRank: t.lowRank && t.lowRank.map((f) => ({ u: f.u.map((x) => x * factor), v: f.v })),
    })),
  );
}

/** The same update in f32 encoding: other bytes (another digest), the same values. */
export function reencodedF32(source: ModelUpdate): Uint8Array {
  return encodeUpdate(source.map((t): TensorUpdate => ({ ...t, encoding: t.indices === null ? t.encoding : UpdateEncoding.F32 })));
}

/** The same update re-encoded with f32 values and one value moved by one unit in the last place: new bytes, same update. */
export function ulpNudged(source: ModelUpdate): Uint8Array {
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  let nudged = false;
  return encodeUpdate(
    source.map((t): TensorUpdate => {
      const values = Float32Array.from(t.values);
      if (!nudged && t.indices !== null && values.length > 0) {
        const j = values.findIndex((v) => v !== 0);
        f[0] = values[Math.max(0, j)]!;
        bits[0] = bits[0]! + 1;
        values[Math.max(0, j)] = f[0];
        nudged = true;
      }
      return { ...t, encoding: t.indices === null ? t.encoding : UpdateEncoding.F32, values };
    }),
  );
}

/** `scale` times the change from one published version to the next, as a dense delta to compress like an update. */
export function publishedChange(older: Weights, newer: Weights, scale: number): Weights {
  const delta: Weights = new Map();
  for (const [name, w] of newer) {
    const o = older.get(name)!;
    delta.set(
      name,
      Float32Array.from(w, (v, i) => (v - o[i]!) * scale),
    );
  }
  return delta;
}

/**
 * The low-rank part of another update with its factor pairs mixed by a random orthogonal k x k matrix Q (u'_j =
 * sum_i Q_ji u_i, likewise v'), its sparse values dropped: the same weight change sum_i u_i v_i^T from other bytes and
 * other factor values, which a copy check on values cannot see. Tensors without factors are left out.
 */
export function rotatedLowRank(source: ModelUpdate, rng: Rng): Uint8Array {
  const out: TensorUpdate[] = [];
  for (const t of source) {
    const factors = t.lowRank;
    if (!factors || factors.length === 0) continue;
    const q = randomOrthogonal(factors.length, rng);
    const lowRank = q.map((row) => {
      const u = new Float32Array(factors[0]!.u.length);
      const v = new Float32Array(factors[0]!.v.length);
      row.forEach((c, i) => {
        for (let a = 0; a < u.length; a++) u[a] = u[a]! + c * factors[i]!.u[a]!;
        for (let b = 0; b < v.length; b++) v[b] = v[b]! + c * factors[i]!.v[b]!;
      });
      return { u, v };
    });
    out.push({ ...t, indices: new Uint32Array(0), values: new Float32Array(0), lowRank });
  }
  return encodeUpdate(out);
}

/** A random k x k matrix with orthonormal rows (Gram-Schmidt on gaussian rows). */
function randomOrthogonal(k: number, rng: Rng): number[][] {
  const rows: number[][] = [];
  while (rows.length < k) {
    let v = Array.from({ length: k }, () => gaussian(rng));
    for (const w of rows) {
      const d = v.reduce((s, x, j) => s + x * w[j]!, 0);
      v = v.map((x, j) => x - d * w[j]!);
    }
    const norm = Math.hypot(...v);
    if (norm > 1e-6) rows.push(v.map((x) => x / norm));
  }
  return rows;
}
