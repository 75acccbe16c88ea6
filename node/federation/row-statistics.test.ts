import { describe, expect, it } from 'vitest';
import { gainStats, pairedTest, tCritical1pct, welchTest } from './row-statistics.js';

describe('row statistics', () => {
  it('summarises per-row gains (before minus after)', () => {
    const g = gainStats([3, 4, 5, 6], [2, 3, 5, 4]);
    expect(g.n).toBe(4);
    expect(g.mean).toBeCloseTo(1, 12); // gains 1, 1, 0, 2
    expect(g.sd).toBeCloseTo(Math.sqrt(2 / 3), 12);
    expect(() => gainStats([1, 2], [1])).toThrow(/2 rows before, 1 after/);
  });

  it('paired t and its 1% critical value match a hand computation (t = mean / (sd / sqrt n), df = n - 1)', () => {
    const t = pairedTest({ mean: 0.05, sd: 0.2, n: 64 });
    expect(t.t).toBeCloseTo(2, 12);
    expect(t.df).toBe(63);
    expect(t.critical).toBe(2.39); // tabled at 60: conservative for 63
    expect(pairedTest({ mean: 0, sd: 0, n: 10 }).t).toBe(0);
  });

  it('Welch t and Welch–Satterthwaite degrees of freedom (textbook example)', () => {
    // a: n 10, sd 2; b: n 20, sd 1: va = 0.4, vb = 0.05, df = 0.45^2 / (0.4^2/9 + 0.05^2/19) = 11.30
    const w = welchTest({ mean: 1, sd: 2, n: 10 }, { mean: 0, sd: 1, n: 20 });
    expect(w.t).toBeCloseTo(1 / Math.sqrt(0.45), 12);
    expect(w.df).toBeCloseTo(0.2025 / (0.16 / 9 + 0.0025 / 19), 9);
    expect(w.critical).toBe(2.718); // df 11
  });

  it('critical values fall with degrees of freedom towards the normal 2.326, and refuse df < 1', () => {
    expect(tCritical1pct(1)).toBe(31.821);
    expect(tCritical1pct(7.9)).toBe(2.998);
    expect(tCritical1pct(30)).toBe(2.457);
    expect(tCritical1pct(1e9)).toBe(2.358);
    expect(tCritical1pct(Infinity)).toBe(2.326);
    expect(() => tCritical1pct(0.5)).toThrow(RangeError);
  });

  it('a zero-mean gain passes the 1% test about 1% of the time (simulated, 4000 tries of 64 rows)', () => {
    let seed = 12345;
    const normal = (): number => {
      // Box–Muller on a small LCG: deterministic, so the test cannot flake.
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const u = (seed + 1) / (2 ** 31 + 1);
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const v = (seed + 1) / (2 ** 31 + 1);
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    };
    let passed = 0;
    for (let k = 0; k < 4000; k++) {
      const before = Array.from({ length: 64 }, () => 5 + normal());
      const after = before.map((b) => b + 0.1 * normal());
      const t = pairedTest(gainStats(before, after));
      if (t.t >= t.critical) passed++;
    }
    expect(passed / 4000).toBeLessThan(0.02);
    expect(passed).toBeGreaterThan(0);
  });
});
