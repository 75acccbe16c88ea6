// The copy check: shared sparse values and shared low-rank factor pairs, each counted apart, pairs up to sign and order.
import { describe, expect, it } from 'vitest';
import { sharedValueFraction } from './similarity.js';
import { UpdateEncoding, type LowRankFactor, type TensorUpdate } from './update-codec.js';

let seed = 7;
const rand = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5;
const vector = (n: number): Float32Array => Float32Array.from({ length: n }, rand);
const pair = (): LowRankFactor => ({ u: vector(100), v: vector(50) });
const tensor = (indices: number[], values: Float32Array, lowRank: LowRankFactor[] | null): TensorUpdate => ({
  name: 'z',
  numel: 5000,
  encoding: UpdateEncoding.Q8,
  indices: Uint32Array.from(indices),
  values,
  lowRank,
});
const positions = Array.from({ length: 200 }, (_, i) => i * 25);

describe('sharedValueFraction', () => {
  const ref = tensor(positions, vector(200), [pair(), pair(), pair()]);

  it('counts a copied factor pair whole, whatever the order and the signs of the pairs', () => {
    const [a, , c] = ref.lowRank!;
    const flipped = { u: a!.u.map((x) => -x), v: a!.v.map((x) => -x) };
    const copy = tensor(positions, vector(200), [c!, pair(), flipped]);
    expect(sharedValueFraction([copy], [ref])).toBeCloseTo(2 / 3, 6);
  });

  it('does not count a negated product, other factors, or other values', () => {
    const [a] = ref.lowRank!;
    const other = tensor(positions, vector(200), [{ u: a!.u.map((x) => -x), v: a!.v }, pair(), pair()]);
    expect(sharedValueFraction([other], [ref])).toBeLessThan(0.05);
  });

  it('counts copied sparse values apart from the factors, so factors cannot dilute a copy', () => {
    // A quarter of the values copied, the rest and the factors its own: 25%, though the factors are 3 x 150 more values.
    const values = vector(200);
    for (let i = 0; i < 50; i++) values[i * 4] = ref.values[i * 4]!;
    expect(sharedValueFraction([tensor(positions, values, [pair(), pair(), pair()])], [ref])).toBeGreaterThanOrEqual(0.25);
  });
});
