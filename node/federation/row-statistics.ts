/**
 * Statistics over per-row loss gains (nats; before minus after, so a gain is positive), the evidence the
 * coordinator's acceptance rests on:
 * - a one-sided paired t-test (Student 1908) that an update lowers the loss of the rows it is scored on;
 * - a one-sided Welch two-sample t-test (Welch 1947, degrees of freedom by Welch–Satterthwaite) that the gain on
 *   the task's own rows exceeds the gain on unassigned rows of the same distribution (the "gauntlet" comparison of
 *   Templar: an update scores only for learning *its* data, not for generic improvement or data it was not given).
 * Every test is one-sided at the 1% level: a useless update passes any one of them at most about 1% of the time.
 */

/** Mean, sample standard deviation and count of a set of per-row gains. */
export interface GainStats {
  mean: number;
  sd: number;
  n: number;
}

/** A t statistic with its degrees of freedom and the one-sided 1% critical value it must reach. */
export interface TTest {
  t: number;
  df: number;
  critical: number;
}

/** Fewest rows a test may rest on. */
export const MIN_ROWS = 8;

/** One-sided 1% critical values of Student's t (standard tables), by degrees of freedom. */
const T_TABLE_1PCT: [number, number][] = [
  [1, 31.821],
  [2, 6.965],
  [3, 4.541],
  [4, 3.747],
  [5, 3.365],
  [6, 3.143],
  [7, 2.998],
  [8, 2.896],
  [9, 2.821],
  [10, 2.764],
  [11, 2.718],
  [12, 2.681],
  [13, 2.65],
  [14, 2.624],
  [15, 2.602],
  [16, 2.583],
  [17, 2.567],
  [18, 2.552],
  [19, 2.539],
  [20, 2.528],
  [21, 2.518],
  [22, 2.508],
  [23, 2.5],
  [24, 2.492],
  [25, 2.485],
  [26, 2.479],
  [27, 2.473],
  [28, 2.467],
  [29, 2.462],
  [30, 2.457],
  [40, 2.423],
  [60, 2.39],
  [120, 2.358],
  [Infinity, 2.326],
];

/** The one-sided 1% critical value of t at `df` degrees of freedom (the tabled value at or below df: conservative). */
export function tCritical1pct(df: number): number {
  if (!(df >= 1)) throw new RangeError(`degrees of freedom must be at least 1, got ${df}`);
  let critical = T_TABLE_1PCT[0]![1];
  for (const [d, c] of T_TABLE_1PCT) if (d <= df) critical = c;
  return critical;
}

/** `before[i] - after[i]` for each row, summarised. Throws on mismatched or too few rows. */
export function gainStats(before: ArrayLike<number>, after: ArrayLike<number>): GainStats {
  if (before.length !== after.length) throw new RangeError(`${before.length} rows before, ${after.length} after`);
  const n = before.length;
  if (n < 2) throw new RangeError(`a gain needs at least 2 rows, got ${n}`);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += before[i]! - after[i]!;
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (before[i]! - after[i]! - mean) ** 2;
  return { mean, sd: Math.sqrt(ss / (n - 1)), n };
}

const ratio = (d: number, se: number): number => (se === 0 ? (d > 0 ? Infinity : d < 0 ? -Infinity : 0) : d / se);

/** Paired t-test that the mean gain is above 0. */
export function pairedTest(g: GainStats): TTest {
  const df = g.n - 1;
  return { t: ratio(g.mean, g.sd / Math.sqrt(g.n)), df, critical: tCritical1pct(df) };
}

/** Welch's t-test that mean(a) is above mean(b), with unequal variances. */
export function welchTest(a: GainStats, b: GainStats): TTest {
  const va = (a.sd * a.sd) / a.n;
  const vb = (b.sd * b.sd) / b.n;
  const denom = (va * va) / (a.n - 1) + (vb * vb) / (b.n - 1);
  const df = denom === 0 ? a.n + b.n - 2 : (va + vb) ** 2 / denom;
  return { t: ratio(a.mean - b.mean, Math.sqrt(va + vb)), df: Math.max(1, df), critical: tCritical1pct(Math.max(1, df)) };
}
