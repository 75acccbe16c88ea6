/**
 * Low-rank factors plus top-k sparsification with error feedback (browser-safe): the miner adds what it could not
 * send last time to this update, clips it to the task's bound, sends for each matrix a few factor pairs u v^T that
 * carry the directions the whole matrix moves along (found by subspace iteration, in the manner of PowerSGD,
 * Vogels et al. 2019), then the k largest values of what is left, all quantized, and keeps the rest, quantization
 * error included, for next time.
 */
import { paramSpecs, type ModelConfig } from '../model/config.js';
import {
  addLowRankInto,
  denseValues,
  encodeUpdate,
  quantizeQ8,
  UpdateEncoding,
  type LowRankFactor,
  type ModelUpdate,
  type TensorUpdate,
} from './update-codec.js';

export type TensorValues = Map<string, Float32Array>;

export interface CompressOptions {
  /** Fraction of each tensor's values to send (0 < density <= 1). */
  density: number;
  /** Every sent value is clipped to [-maxAbs, maxAbs] (the coordinator's bound). */
  maxAbs: number;
  /** q8 (default), f32, or dense float32 (no sparsification, no error feedback). */
  encoding?: 'q8' | 'f32' | 'dense';
  /** Tensors this small go whole (still quantized); they are the norms and biases. */
  minValues?: number;
  /** How much of the error-feedback memory is added back (1: all of it, the default). */
  feedback?: number;
  /** Row length of each matrix; a matrix sends `rank` low-rank factor pairs besides its top-k. */
  rowLengths?: ReadonlyMap<string, number>;
  /** Factor pairs per matrix (LOW_RANK by default; at most min(rows, row length)). */
  rank?: number;
}

export interface CompressedUpdate {
  bytes: Uint8Array;
  /** What the receiver decodes. */
  sent: ModelUpdate;
  /** The error-feedback memory to pass to the next call. */
  residual: TensorValues;
  values: number;
}

/** Every tensor sends at least this many values: sparsifying the small block matrices as hard as the embedding cost 3-4% held-out loss in the bench. */
export const MIN_VALUES = 2048;

/**
 * Factor pairs per matrix. Share of the uncompressed update's loss gain over the task rows that the sent update
 * keeps, ailo-tiny tasks (16 steps of 8x64, lr 2e-3, density 0.01), 3 tasks each from the init weights / after 3 /
 * after 6 tasks trained centrally: rank 1: 99 / 98-118 / 69-93%, rank 4: 99 / 98-101 / 90-97%, rank 8:
 * 99.5 / 99.9-100.4 / 99.3-100.5% (codec v1's mean row: 83-84 / 46-76 / 74-82%). Above 100%, the sent update helps
 * those rows more than the whole one, which overshoots a little. q8 factors kept what f32 factors kept, to 0.1%.
 */
export const LOW_RANK = 8;

/** Subspace iterations: 1 kept 99.2-100.2% of the gain above, 2 (the default) 99.3-100.5%. */
export const POWER_ITERATIONS = 2;

/** How many values the low-rank block of a rows x cols matrix carries at `rank`. */
export function lowRankValues(rows: number, cols: number, rank = LOW_RANK): number {
  return Math.min(rank, rows, cols) * (rows + cols);
}

/** How many values of an n-value tensor a given density sends. */
export function topkCount(n: number, density: number, minValues = MIN_VALUES): number {
  return Math.min(n, Math.max(minValues, Math.ceil(density * n)));
}

/** The k-th largest |value| (1-based k), by quickselect on a copy. */
export function kthLargestAbs(values: Float32Array, k: number): number {
  const a = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) a[i] = Math.abs(values[i]!);
  const target = a.length - k; // position in ascending order
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  return a[target]!;
}

/** A fixed +-1 pattern (a hash of row and column), so the same matrix always gives the same factors. */
function startSign(i: number, k: number): number {
  let h = Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(k, 0x85ebca6b);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h & 1 ? 1 : -1;
}

/** Gram-Schmidt on the columns of V in order; drops a column that is (numerically) in the span of the earlier ones. */
function orthonormalize(V: Float64Array[]): Float64Array[] {
  const norm = (x: Float64Array): number => {
    let n = 0;
    for (let j = 0; j < x.length; j++) n += x[j]! * x[j]!;
    return Math.sqrt(n);
  };
  const floor = 1e-9 * Math.max(0, ...V.map(norm));
  const out: Float64Array[] = [];
  for (const x of V) {
    for (const y of out) {
      let d = 0;
      for (let j = 0; j < x.length; j++) d += x[j]! * y[j]!;
      for (let j = 0; j < x.length; j++) x[j] = x[j]! - d * y[j]!;
    }
    const n = norm(x);
    if (!(n > floor)) continue;
    for (let j = 0; j < x.length; j++) x[j] = x[j]! / n;
    out.push(x);
  }
  return out;
}

/** out[k] = row . V[k] for the row of `a` at `at` (factors taken four at a time: each entry is read once per four). */
function rowDots(a: Float32Array, at: number, V: readonly Float64Array[], out: Float64Array): void {
  const cols = V[0]!.length;
  let k = 0;
  for (; k + 4 <= V.length; k += 4) {
    const v0 = V[k]!,
      v1 = V[k + 1]!,
      v2 = V[k + 2]!,
      v3 = V[k + 3]!;
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0;
    for (let j = 0; j < cols; j++) {
      const x = a[at + j]!;
      s0 += x * v0[j]!;
      s1 += x * v1[j]!;
      s2 += x * v2[j]!;
      s3 += x * v3[j]!;
    }
    out[k] = s0;
    out[k + 1] = s1;
    out[k + 2] = s2;
    out[k + 3] = s3;
  }
  for (; k < V.length; k++) {
    const v = V[k]!;
    let s = 0;
    for (let j = 0; j < cols; j++) s += a[at + j]! * v[j]!;
    out[k] = s;
  }
}

/** W[k] += c[k] * row for the row of `a` at `at`. */
function rowAxpy(a: Float32Array, at: number, c: Float64Array, W: Float64Array[]): void {
  const cols = W[0]!.length;
  let k = 0;
  for (; k + 4 <= W.length; k += 4) {
    const w0 = W[k]!,
      w1 = W[k + 1]!,
      w2 = W[k + 2]!,
      w3 = W[k + 3]!;
    const c0 = c[k]!,
      c1 = c[k + 1]!,
      c2 = c[k + 2]!,
      c3 = c[k + 3]!;
    for (let j = 0; j < cols; j++) {
      const x = a[at + j]!;
      w0[j] = w0[j]! + x * c0;
      w1[j] = w1[j]! + x * c1;
      w2[j] = w2[j]! + x * c2;
      w3[j] = w3[j]! + x * c3;
    }
  }
  for (; k < W.length; k++) {
    const w = W[k]!;
    const ck = c[k]!;
    for (let j = 0; j < cols; j++) w[j] = w[j]! + a[at + j]! * ck;
  }
}

/**
 * Rank-`rank` factors of the matrix `a` (rows of `cols`) by subspace iteration: V = A^T [1, S] (1: the column sums,
 * the old mean row's direction; S: fixed +-1 columns), then `iterations` times V = orth(A^T A V), then U = A V. The
 * product U V^T = A V V^T is the part of A in the found row space. Deterministic: the same matrix gives the same
 * factors. Cost: rows x cols x rank x (2 x iterations + 2) multiply-adds (ailo-1b: a 1600 x 6400 matrix 0.34 s, all its
 * matrices about 27 s on one core of the project machine).
 */
export function lowRankFactors(a: Float32Array, cols: number, rank: number, iterations = POWER_ITERATIONS): LowRankFactor[] {
  const rows = a.length / cols;
  const r = Math.min(rank, rows, cols);
  if (r <= 0 || !Number.isInteger(rows)) return [];
  const c = new Float64Array(r);
  let V: Float64Array[] = Array.from({ length: r }, () => new Float64Array(cols));
  for (let i = 0; i < rows; i++) {
    for (let k = 0; k < r; k++) c[k] = k === 0 ? 1 : startSign(i, k);
    rowAxpy(a, i * cols, c, V);
  }
  V = orthonormalize(V);
  for (let it = 0; it < iterations && V.length > 0; it++) {
    // W = A^T (A V), one row at a time.
    const W = V.map(() => new Float64Array(cols));
    for (let i = 0; i < rows; i++) {
      rowDots(a, i * cols, V, c);
      rowAxpy(a, i * cols, c, W);
    }
    V = orthonormalize(W);
  }
  if (V.length === 0) return [];
  const U = V.map(() => new Float32Array(rows));
  for (let i = 0; i < rows; i++) {
    rowDots(a, i * cols, V, c);
    for (let k = 0; k < V.length; k++) U[k]![i] = c[k]!;
  }
  return V.map((v, k) => ({ u: U[k]!, v: Float32Array.from(v) })).filter((f) => f.u.some((x) => x !== 0));
}

/** Largest |entry| of the product of `factors` (rows of v.length). */
function productMaxAbs(factors: readonly LowRankFactor[]): number {
  const cols = factors[0]!.v.length;
  const row = new Float64Array(cols);
  let max = 0;
  for (let i = 0; i < factors[0]!.u.length; i++) {
    row.fill(0);
    for (const { u, v } of factors) for (let j = 0; j < cols; j++) row[j] = row[j]! + u[i]! * v[j]!;
    for (let j = 0; j < cols; j++) max = Math.max(max, Math.abs(row[j]!));
  }
  return max;
}

/**
 * Compresses `delta` (local weights minus the version's weights) plus `residual` into an update. Tensors are
 * taken in the order of `delta`'s keys, which must be the model's parameter order.
 */
export function compressUpdate(delta: TensorValues, residual: TensorValues | undefined, o: CompressOptions): CompressedUpdate {
  if (!(o.density > 0 && o.density <= 1)) throw new RangeError(`density must be in (0, 1], got ${o.density}`);
  if (!(o.maxAbs > 0)) throw new RangeError(`maxAbs must be positive, got ${o.maxAbs}`);
  const encoding = o.encoding ?? 'q8';
  const sent: ModelUpdate = [];
  const nextResidual: TensorValues = new Map();
  let values = 0;
  for (const [name, d] of delta) {
    const target = new Float32Array(d.length);
    const r = residual?.get(name);
    const fb = o.feedback ?? 1;
    for (let i = 0; i < d.length; i++) target[i] = Math.max(-o.maxAbs, Math.min(o.maxAbs, d[i]! + (r ? fb * r[i]! : 0)));
    if (encoding === 'dense') {
      sent.push({ name, numel: d.length, encoding: UpdateEncoding.DENSE, indices: null, values: target, lowRank: null });
      nextResidual.set(name, new Float32Array(d.length));
      values += d.length;
      continue;
    }
    const rowLen = o.rowLengths?.get(name);
    let lowRank: LowRankFactor[] | null = null;
    if (rowLen && rowLen < d.length && d.length % rowLen === 0) {
      const found = lowRankFactors(target, rowLen, o.rank ?? LOW_RANK);
      if (found.length > 0) {
        const send = (f: LowRankFactor[]): LowRankFactor[] =>
          encoding === 'q8' ? f.map(({ u, v }) => ({ u: quantizeQ8(u).decoded, v: quantizeQ8(v).decoded })) : f;
        lowRank = send(found);
        // The product alone must keep to the bound wherever no sparse value corrects it.
        const max = productMaxAbs(lowRank);
        if (max > o.maxAbs) lowRank = send(found.map(({ u, v }) => ({ u: u.map((x) => (x * o.maxAbs) / max), v })));
        addLowRankInto(target, lowRank, -1);
        values += lowRank.length * (d.length / rowLen + rowLen);
      }
    }
    const k = topkCount(d.length, o.density, o.minValues);
    const threshold = k === d.length ? 0 : kthLargestAbs(target, k);
    const indices = new Uint32Array(k);
    let n = 0;
    // Strictly above the threshold first, then ties in index order until k.
    for (let i = 0; i < target.length && n < k; i++) if (Math.abs(target[i]!) > threshold) indices[n++] = i;
    if (n < k) {
      const above = indices.slice(0, n);
      const chosen = new Uint8Array(target.length);
      for (const i of above) chosen[i] = 1;
      for (let i = 0; i < target.length && n < k; i++) if (!chosen[i] && Math.abs(target[i]!) === threshold) ((chosen[i] = 1), n++);
      n = 0;
      for (let i = 0; i < target.length; i++) if (chosen[i]) indices[n++] = i;
    }
    const raw = new Float32Array(k);
    for (let j = 0; j < k; j++) raw[j] = target[indices[j]!]!;
    const decoded = encoding === 'q8' ? quantizeQ8(raw).decoded : raw;
    const tensor: TensorUpdate = {
      name,
      numel: d.length,
      encoding: encoding === 'q8' ? UpdateEncoding.Q8 : UpdateEncoding.F32,
      indices,
      values: decoded,
      lowRank,
    };
    sent.push(tensor);
    for (let j = 0; j < k; j++) target[indices[j]!] = target[indices[j]!]! - decoded[j]!;
    nextResidual.set(name, target);
    values += k;
  }
  return { bytes: encodeUpdate(sent), sent, residual: nextResidual, values };
}

/** Adds `scale * update` into dense tensors (the receiver's side of FedAvg). */
export function addUpdateInto(into: TensorValues, update: ModelUpdate, scale = 1): void {
  for (const t of update) {
    const dst = into.get(t.name);
    if (!dst || dst.length !== t.numel) throw new RangeError(`no tensor ${t.name} of ${t.numel} values to add into`);
    if (t.lowRank) addLowRankInto(dst, t.lowRank, scale);
    if (t.indices === null) for (let i = 0; i < t.values.length; i++) dst[i] = dst[i]! + scale * t.values[i]!;
    else for (let j = 0; j < t.indices.length; j++) dst[t.indices[j]!] = dst[t.indices[j]!]! + scale * t.values[j]!;
  }
}

/**
 * Cosine similarity of the sparse parts of two updates (1 for a copy, low for updates trained on other data).
 * Low-rank factors are left out: every honest update shares their main direction (as it shared v1's mean row,
 * at 0.97 cosine between two miners' updates).
 */
export function updateCosine(a: ModelUpdate, b: ModelUpdate): number {
  const sparse = (t: TensorUpdate): TensorUpdate => ({ ...t, lowRank: null });
  const byName = new Map(b.map((t) => [t.name, t]));
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (const t of b) for (let i = 0; i < t.values.length; i++) nb += t.values[i]! * t.values[i]!;
  for (const t of a) {
    for (let i = 0; i < t.values.length; i++) na += t.values[i]! * t.values[i]!;
    const u = byName.get(t.name);
    if (!u) continue;
    const vb = denseValues(sparse(u));
    if (t.indices === null) for (let i = 0; i < t.values.length; i++) dot += t.values[i]! * vb[i]!;
    else for (let k = 0; k < t.indices.length; k++) dot += t.values[k]! * vb[t.indices[k]!]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/**
 * How far the weight change `a` makes is from the one `reference` makes, relative to the reference's size:
 * ||a - reference|| / ||reference|| (L2 over every tensor either touches; sparse values and low-rank products
 * together, so the encoding and factorisation do not matter). 0 for the same change; a rescaled or rotated one is as
 * far as it is different. Infinity when the reference is empty.
 */
export function weightChangeDistance(a: ModelUpdate, reference: ModelUpdate): number {
  const dense = new Map(a.map((t) => [t.name, denseValues(t)]));
  let diff = 0;
  let size = 0;
  for (const t of reference) {
    const r = denseValues(t);
    const x = dense.get(t.name);
    dense.delete(t.name);
    for (let i = 0; i < r.length; i++) {
      const d = (x?.[i] ?? 0) - r[i]!;
      diff += d * d;
      size += r[i]! * r[i]!;
    }
  }
  for (const x of dense.values()) for (let i = 0; i < x.length; i++) diff += x[i]! * x[i]!;
  return size === 0 ? Infinity : Math.sqrt(diff / size);
}

/** Row lengths of a model's matrices (the last dimension of every 2-D parameter), for CompressOptions.rowLengths. */
export function matrixRowLengths(cfg: ModelConfig): Map<string, number> {
  return new Map(paramSpecs(cfg).flatMap((s) => (s.shape.length === 2 ? [[s.name, s.shape[1]!] as [string, number]] : [])));
}
