/**
 * How much of one update is another's (browser-safe): the copy check a coordinator runs on every submission
 * against each update accepted in the round and each recently published model change.
 *
 * `sharedValueFraction(a, ref)` is the fraction of the values `a` sends (its sparse values, and apart from them its
 * low-rank factor entries) that equal the reference's value at the same position, with the same sign and within
 * `tolerance` relative to the larger of the two or one q8 step of `a`'s tensor, whichever is wider. A factor pair's entries
 * count together: all shared when the pair's product is (nearly) one of the reference's pairs' products, whatever
 * the pairs' order and signs (FACTOR_COPY_COSINE). Compared entry by entry, honest factors of other tasks matched
 * 6-26% (small entries agree within a q8 step by sign alone, and every update shares the embedding's main direction).
 * Honest updates trained on different tokens share top-k positions but rarely their values, so a fraction of about
 * a quarter or more means values were copied (re-quantizing a copy moves each value by under one q8 step).
 * Cosine similarity misses this: a copy of 25% of another update's values padded with other values has cosine
 * about 0.5. A published model change is compared in its sparse form (its own factors and top-k, wider than a
 * task's), which holds the positions a resold copy of it would send.
 */
import type { LowRankFactor, ModelUpdate, TensorUpdate } from './update-codec.js';

/** Same sign and within `tolerance` relative, or within `step` (one q8 step of the sending tensor) absolute. */
const near = (x: number, y: number, tolerance: number, step: number): boolean =>
  x !== 0 && Math.sign(x) === Math.sign(y) && Math.abs(x - y) <= Math.max(step, tolerance * Math.max(Math.abs(x), Math.abs(y)));

function q8Step(values: Float32Array): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]!));
  return max / 127;
}

/**
 * A factor pair counts as copied when its product u v^T has cosine >= this with one of the reference tensor's
 * pairs' products (cos(u v^T, u' v'^T) = cos(u, u') cos(v, v'), the same for (-u)(-v)^T). Seen on ailo-tiny:
 * re-quantizing a pair to q8 keeps it above 0.995; honest pairs of other tasks reach 0.984 (the main direction of
 * the embedding, which every update shares), most stay below 0.8.
 */
export const FACTOR_COPY_COSINE = 0.99;

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** Entries (u and v) of `a`'s factor pairs that are one of `ref`'s pairs, as a whole (see FACTOR_COPY_COSINE). */
function factorMatches(a: readonly LowRankFactor[], ref: readonly LowRankFactor[]): number {
  let same = 0;
  for (const { u, v } of a) {
    const copied = ref.some(
      (r) => r.u.length === u.length && r.v.length === v.length && cosine(u, r.u) * cosine(v, r.v) >= FACTOR_COPY_COSINE,
    );
    if (copied) same += u.length + v.length;
  }
  return same;
}

interface Matches {
  /** Sparse values of `t` the reference carries too, and how many `t` sends. */
  same: number;
  total: number;
  /** Factor entries of `t` in pairs the reference carries too, and how many `t` sends. */
  sameFactors: number;
  totalFactors: number;
}

/** What of `t` the reference tensor also carries. */
function tensorMatches(t: TensorUpdate, u: TensorUpdate | undefined, tolerance: number): Matches {
  let same = 0;
  const total = t.values.length;
  let totalFactors = 0;
  for (const f of t.lowRank ?? []) totalFactors += f.u.length + f.v.length;
  const sameFactors = t.lowRank && u?.lowRank ? factorMatches(t.lowRank, u.lowRank) : 0;
  if (!u) return { same, total, sameFactors, totalFactors };
  const step = q8Step(t.values);
  const close = (x: number, y: number | undefined): number => (y !== undefined && near(x, y, tolerance, step) ? 1 : 0);
  if (t.indices === null && u.indices === null) {
    for (let i = 0; i < t.values.length; i++) same += close(t.values[i]!, u.values[i]);
  } else if (t.indices === null) {
    for (let k = 0; k < u.indices!.length; k++) same += close(t.values[u.indices![k]!]!, u.values[k]);
  } else if (u.indices === null) {
    for (let k = 0; k < t.indices.length; k++) same += close(t.values[k]!, u.values[t.indices[k]!]);
  } else {
    // Both sparse with strictly increasing indices: one merge.
    let j = 0;
    for (let k = 0; k < t.indices.length; k++) {
      const i = t.indices[k]!;
      while (j < u.indices.length && u.indices[j]! < i) j++;
      if (j < u.indices.length && u.indices[j] === i) same += close(t.values[k]!, u.values[j]);
    }
  }
  return { same, total, sameFactors, totalFactors };
}

/**
 * Fraction (0..1) of the values `a` sends that equal `ref`'s at the same positions within `tolerance` (relative,
 * default 2%: q8 quantization moves a value by at most 1/254 of its tensor's largest value): the larger of the
 * sparse values' fraction and the factor entries' fraction, so that neither part can dilute a copy in the other
 * (rank-8 factors are 85% of an ailo-tiny update's values).
 */
export function sharedValueFraction(a: ModelUpdate, ref: ModelUpdate, tolerance = 0.02): number {
  const byName = new Map(ref.map((t) => [t.name, t]));
  const sum: Matches = { same: 0, total: 0, sameFactors: 0, totalFactors: 0 };
  for (const t of a) {
    const m = tensorMatches(t, byName.get(t.name), tolerance);
    sum.same += m.same;
    sum.total += m.total;
    sum.sameFactors += m.sameFactors;
    sum.totalFactors += m.totalFactors;
  }
  return Math.max(sum.total === 0 ? 0 : sum.same / sum.total, sum.totalFactors === 0 ? 0 : sum.sameFactors / sum.totalFactors);
}
