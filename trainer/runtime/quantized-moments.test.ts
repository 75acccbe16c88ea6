// The 8-bit block-wise moment store: its rounding error bounds, exact block maxima and zeros, and its size.
import { describe, expect, it } from 'vitest';
import { momentStore, QUANT_BLOCK } from './quantized-moments.js';

describe('8-bit block-wise moments', () => {
  it('keeps each value within the stated relative error of its level, the block maximum exactly, and zeros as zeros', () => {
    const n = QUANT_BLOCK * 2 + 100; // a short last block
    let x = 12345;
    const rand = (): number => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (const [signed, bound, floor] of [
      [true, 0.067, 1e-7],
      [false, 0.076, 1e-16],
    ] as const) {
      const store = momentStore('int8', n, signed);
      expect(store.bytes).toBe(n + 3 * 4);
      const values = new Float32Array(n);
      // Magnitudes over many decades, both signs where allowed, and exact zeros.
      for (let i = 0; i < n; i++) values[i] = i % 97 === 0 ? 0 : (signed && rand() < 0.5 ? -1 : 1) * 10 ** (-6 * rand());
      const out = new Float32Array(QUANT_BLOCK);
      for (let block = 0; block * QUANT_BLOCK < n; block++) {
        const start = block * QUANT_BLOCK;
        const count = Math.min(QUANT_BLOCK, n - start);
        store.write(block, values.subarray(start, start + count), count);
        expect(store.read(block, out)).toBe(count);
        let max = 0;
        for (let j = 0; j < count; j++) max = Math.max(max, Math.abs(values[start + j]!));
        for (let j = 0; j < count; j++) {
          const want = values[start + j]!;
          const got = out[j]!;
          if (want === 0) expect(got).toBe(0);
          else if (Math.abs(want) === max) expect(got).toBe(want);
          else if (Math.abs(want) >= floor * max) {
            expect(Math.sign(got)).toBe(Math.sign(want));
            expect(Math.abs(got - want) / Math.abs(want)).toBeLessThan(bound);
          }
        }
      }
    }
  });

  it("encodes a block the same whether its maximum is given (the AdamW loop's) or found, down to the zero level", () => {
    for (const signed of [true, false]) {
      const values = Float32Array.from({ length: QUANT_BLOCK }, (_, i) => (signed && i % 3 === 0 ? -1 : 1) * 10 ** (-(i % 190) / 10));
      let max = 0;
      for (const x of values) max = Math.max(max, Math.abs(x));
      const found = momentStore('int8', QUANT_BLOCK, signed);
      const given = momentStore('int8', QUANT_BLOCK, signed);
      found.write(0, values, QUANT_BLOCK);
      given.write(0, values, QUANT_BLOCK, max);
      const [a, b] = [new Float32Array(QUANT_BLOCK), new Float32Array(QUANT_BLOCK)];
      found.read(0, a);
      given.read(0, b);
      expect([...b]).toEqual([...a]);
      // Ratios of 1e-18 are below either map's first level (1e-7 signed, 1e-16 unsigned): zero; 1 is exact.
      expect(a[180]).toBe(0);
      expect(Math.abs(a[0]!)).toBe(1);
      // A maximum given too small: a larger value decodes as the maximum with its sign (as a full table gave it); NaN as 0.
      const odd = Float32Array.from([0.5, signed ? -3 : 3, 1e30, NaN, 0.25]);
      given.write(0, odd, odd.length, 1);
      given.read(0, b);
      expect([...b.subarray(0, 5)].map((x) => Math.round(x * 1e3) / 1e3)).toEqual([
        expect.closeTo(0.5, 1),
        signed ? -1 : 1,
        1,
        0,
        expect.closeTo(0.25, 1),
      ]);
    }
  });

  it('stores float32 moments as they are', () => {
    const store = momentStore('float32', 10, true);
    const v = Float32Array.from({ length: 10 }, (_, i) => i - 4.5);
    store.write(0, v, 10);
    const out = new Float32Array(QUANT_BLOCK);
    expect(store.read(0, out)).toBe(10);
    expect([...out.subarray(0, 10)]).toEqual([...v]);
    expect(store.bytes).toBe(40);
  });
});
