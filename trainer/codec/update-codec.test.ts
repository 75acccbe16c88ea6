// The update codec: committed vectors, round trips, tamper and garbage rejection, the error-feedback invariant, and
// the low-rank factors (determinism, exactness on a low-rank matrix, the bound).
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compressUpdate, kthLargestAbs, lowRankFactors, topkCount, updateCosine } from './compress.js';
import {
  decodeUpdate,
  denseValues,
  encodeUpdate,
  UpdateCodecError,
  UpdateCodecErrorCode,
  UpdateEncoding,
  updateStats,
  type LowRankFactor,
  type ModelUpdate,
} from './update-codec.js';
import { VECTORS, VECTOR_SIZES } from './vectors.js';

const vectors = JSON.parse(readFileSync(new URL('./vectors.json', import.meta.url), 'utf8')) as Record<
  string,
  { hex: string; decoded: any[] }
>;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('update codec vectors', () => {
  for (const [name, update] of Object.entries(VECTORS)) {
    it(`${name}: encodes to the committed bytes and decodes to the committed values`, () => {
      const v = vectors[name]!;
      expect(hex(encodeUpdate(update))).toBe(v.hex);
      const decoded = decodeUpdate(Buffer.from(v.hex, 'hex'), VECTOR_SIZES);
      expect(
        decoded.map((t) => ({
          name: t.name,
          encoding: t.encoding,
          indices: t.indices ? [...t.indices] : null,
          values: [...t.values],
          lowRank: t.lowRank ? t.lowRank.map((f) => ({ u: [...f.u], v: [...f.v] })) : null,
        })),
      ).toEqual(v.decoded);
    });
  }

  const aWeight = '08' + Buffer.from('a.weight').toString('hex') + '0c000000';
  it('the q8 vector spells out header, gaps and quantized values', () => {
    // "AILU", v2, no flags, 1 tensor; "a.weight", 12 values, q8, 3 values, rank 0, scale 1/127, 3 gap bytes (0, 2, 7), 64 -127 32
    expect(vectors.q8_sparse!.hex).toBe(
      '41494c5502000100' + aWeight + '00' + '03000000' + '00' + '0402013c' + '03000000' + '000207' + '408120',
    );
  });

  it('the q8 rank-1 vector spells out the low-rank block', () => {
    // rank 1, row length 4; u: scale 1/127, 127 -64 0; v: scale 0.5/127, 127 64 0 -127; then no sparse values (scale 0, 0 index bytes)
    expect(vectors.q8_rank1!.hex).toBe(
      '41494c5502000100' +
        aWeight +
        '00' +
        '00000000' +
        '01' +
        '04000000' +
        '0402013c' +
        '7fc000' +
        '0402813b' +
        '7f400081' +
        '00000000' +
        '00000000',
    );
  });
});

const SIZES = new Map([
  ['x', 1000],
  ['y', 64],
  ['z', 5000],
]);
const ROW = new Map([
  ['x', 10],
  ['z', 50],
]);

const factorArb = (rows: number, cols: number): fc.Arbitrary<LowRankFactor[]> =>
  fc.array(
    fc.record({
      u: fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: rows, maxLength: rows }).map((a) => Float32Array.from(a)),
      v: fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: cols, maxLength: cols }).map((a) => Float32Array.from(a)),
    }),
    { minLength: 1, maxLength: 3 },
  );

const updateArb: fc.Arbitrary<ModelUpdate> = fc.subarray(['x', 'y', 'z']).chain((names) =>
  fc.tuple(
    ...names.map((name) => {
      const n = SIZES.get(name)!;
      const rowLen = ROW.get(name);
      return fc
        .record({
          encoding: fc.constantFrom(UpdateEncoding.Q8, UpdateEncoding.F32, UpdateEncoding.DENSE),
          idx: fc.uniqueArray(fc.integer({ min: 0, max: n - 1 }), { maxLength: 40 }),
          vals: fc.array(fc.float({ min: -4, max: 4, noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n }),
          factors: rowLen ? fc.option(factorArb(n / rowLen, rowLen), { nil: null }) : fc.constant(null),
        })
        .map(({ encoding, idx, vals, factors }) => {
          const indices = Uint32Array.from(idx.sort((a, b) => a - b));
          return {
            name,
            numel: n,
            encoding,
            indices: encoding === UpdateEncoding.DENSE ? null : indices,
            values: encoding === UpdateEncoding.DENSE ? Float32Array.from(vals) : Float32Array.from(indices, (i) => vals[i]!),
            lowRank: encoding === UpdateEncoding.DENSE ? null : factors,
          };
        });
    }),
  ),
);

const maxAbs = (x: Float32Array): number => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

describe('update codec properties', () => {
  it('round trip: f32 and dense exactly, q8 to within half a quantization step', () => {
    fc.assert(
      fc.property(updateArb, (u) => {
        const d = decodeUpdate(encodeUpdate(u), SIZES);
        expect(d.map((t) => t.name)).toEqual(u.map((t) => t.name));
        d.forEach((t, i) => {
          const src = u[i]!;
          expect(t.indices ? [...t.indices] : null).toEqual(src.indices ? [...src.indices] : null);
          const max = src.values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          for (let j = 0; j < t.values.length; j++) {
            if (src.encoding === UpdateEncoding.Q8) expect(Math.abs(t.values[j]! - src.values[j]!)).toBeLessThanOrEqual(max / 254 + 1e-6);
            else expect(t.values[j]).toBe(src.values[j]);
          }
          expect(t.lowRank?.length ?? 0).toBe(src.lowRank?.length ?? 0);
          t.lowRank?.forEach((f, k) => {
            for (const part of ['u', 'v'] as const) {
              const a = f[part];
              const b = src.lowRank![k]![part];
              expect(a.length).toBe(b.length);
              for (let j = 0; j < a.length; j++) {
                if (src.encoding === UpdateEncoding.Q8) expect(Math.abs(a[j]! - b[j]!)).toBeLessThanOrEqual(maxAbs(b) / 254 + 1e-6);
                else expect(a[j]).toBe(b[j]);
              }
            }
          });
          // Encoding what was decoded gives the same bytes again (the decoded values are a fixed point).
        });
        expect(hex(encodeUpdate(d))).toBe(hex(encodeUpdate(decodeUpdate(encodeUpdate(d), SIZES))));
      }),
      { numRuns: 150 },
    );
  });

  it('every truncation and every trailing byte is refused with an UpdateCodecError', () => {
    fc.assert(
      fc.property(
        updateArb.filter((u) => u.length > 0),
        fc.nat(),
        (u, cut) => {
          const bytes = encodeUpdate(u);
          const at = cut % bytes.length;
          expect(() => decodeUpdate(bytes.subarray(0, at), SIZES)).toThrow(UpdateCodecError);
          expect(() => decodeUpdate(Uint8Array.from([...bytes, 0]), SIZES)).toThrow(UpdateCodecError);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('random bytes, and random single-byte changes, never decode into anything but a checked update', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeUpdate(bytes, SIZES);
        } catch (err) {
          expect(err).toBeInstanceOf(UpdateCodecError);
        }
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(
        updateArb.filter((u) => u.length > 0),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (u, pos, x) => {
          const bytes = encodeUpdate(u);
          bytes[pos % bytes.length] ^= x;
          try {
            const d = decodeUpdate(bytes, SIZES);
            for (const t of d) {
              expect(SIZES.get(t.name)).toBe(t.numel);
              for (const v of t.values) expect(Number.isFinite(v)).toBe(true);
              if (t.indices) for (const i of t.indices) expect(i).toBeLessThan(t.numel);
              for (const f of t.lowRank ?? []) {
                expect(f.u.length * f.v.length).toBe(t.numel);
                expect(t.lowRank!.length).toBeLessThanOrEqual(Math.min(f.u.length, f.v.length));
                for (const v of [...f.u, ...f.v]) expect(Number.isFinite(v)).toBe(true);
              }
            }
          } catch (err) {
            expect(err).toBeInstanceOf(UpdateCodecError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses NaN, an unknown tensor, a wrong size and a repeated tensor', () => {
    const nan = encodeUpdate([
      { name: 'y', numel: 64, encoding: UpdateEncoding.F32, indices: Uint32Array.of(1), values: Float32Array.of(NaN), lowRank: null },
    ]);
    expect(() => decodeUpdate(nan, SIZES)).toThrow(/not finite/);
    const unknown = encodeUpdate([
      { name: 'w', numel: 64, encoding: UpdateEncoding.DENSE, indices: null, values: new Float32Array(64), lowRank: null },
    ]);
    expect(() => decodeUpdate(unknown, SIZES)).toThrow(/no tensor "w"/);
    const wrong = encodeUpdate([
      { name: 'y', numel: 65, encoding: UpdateEncoding.DENSE, indices: null, values: new Float32Array(65), lowRank: null },
    ]);
    expect(() => decodeUpdate(wrong, SIZES)).toThrow(/has 64 values in the model/);
    const t = { name: 'y', numel: 64, encoding: UpdateEncoding.DENSE, indices: null, values: new Float32Array(64), lowRank: null };
    expect(() => decodeUpdate(encodeUpdate([t, t]), SIZES)).toThrow(/repeated or out of/);
  });

  it('refuses a version-1 update with a message that says to update the miner', () => {
    const v1 = encodeUpdate([]);
    v1[4] = 1;
    const err = (() => {
      try {
        decodeUpdate(v1, SIZES);
      } catch (e) {
        return e as UpdateCodecError;
      }
    })();
    expect(err).toBeInstanceOf(UpdateCodecError);
    expect(err!.code).toBe(UpdateCodecErrorCode.UNSUPPORTED_VERSION);
    expect(err!.message).toMatch(/version 1 .*no longer accepted.*reads version 2.*update the miner/);
    v1[4] = 3;
    expect(() => decodeUpdate(v1, SIZES)).toThrow(/version 3 is not supported/);
  });

  it('refuses a malformed low-rank block: factors on a dense tensor, a rank above min(rows, cols), a row length that does not divide, -128, NaN', () => {
    // x: 1000 values; a q8 tensor with no sparse values and one rank-1 block of 100 x 10 (scale 1, all ones).
    const block = (rank: number, rowLen: number, rows: number, fill = 1): number[] => {
      const vec = (n: number): number[] => [0, 0, 0x80, 0x3f, ...Array<number>(n).fill(fill & 0xff)];
      const b = [rank, rowLen & 0xff, (rowLen >> 8) & 0xff, 0, 0];
      for (let k = 0; k < rank; k++) b.push(...vec(rows), ...vec(rowLen));
      return b;
    };
    const tensor = (encoding: number, count: number, lowRank: number[], tail: number[]): Uint8Array =>
      Uint8Array.from([
        0x41,
        0x49,
        0x4c,
        0x55,
        2,
        0,
        1,
        0,
        1,
        0x78,
        0xe8,
        0x03,
        0,
        0,
        encoding,
        count & 0xff,
        (count >> 8) & 0xff,
        0,
        0,
        ...lowRank,
        ...tail,
      ]);
    const noValues = [0, 0, 0, 0, 0, 0, 0, 0];
    const good = tensor(0, 0, block(1, 10, 100), noValues);
    expect(denseValues(decodeUpdate(good, SIZES)[0]!)).toEqual(new Float32Array(1000).fill(1));
    const dense = tensor(2, 1000, block(1, 10, 100), Array<number>(4000).fill(0));
    expect(() => decodeUpdate(dense, SIZES)).toThrow(/dense tensor x carries 1 low-rank factors/);
    expect(() => decodeUpdate(tensor(0, 0, block(11, 10, 100), noValues), SIZES)).toThrow(/rank 11, above min\(100, 10\)/);
    expect(() => decodeUpdate(tensor(0, 0, block(1, 30, 33), noValues), SIZES)).toThrow(/row length 30 does not divide 1000/);
    expect(() => decodeUpdate(tensor(0, 0, block(1, 0, 0), noValues), SIZES)).toThrow(UpdateCodecError);
    expect(() => decodeUpdate(tensor(0, 0, block(1, 10, 100, 0x80), noValues), SIZES)).toThrow(/factor 0 u value 0 is -128/);
    const nanScale = tensor(0, 0, block(1, 10, 100), noValues);
    nanScale.set([0, 0, 0xc0, 0x7f], 24); // u's scale: NaN
    expect(() => decodeUpdate(nanScale, SIZES)).toThrow(expect.objectContaining({ code: UpdateCodecErrorCode.NON_FINITE }));
    // A finite scale whose product overflows float32 (the "NaN bomb": 127 x 3e38 decoded to +Inf, Inf x 0 gave NaN in
    // updateStats, and the NaN slipped past the bound check into a published version).
    const hugeScale = tensor(0, 0, block(1, 10, 100, 127), noValues);
    new DataView(hugeScale.buffer).setFloat32(24, 3e38, true);
    expect(() => decodeUpdate(hugeScale, SIZES)).toThrow(
      expect.objectContaining({ code: UpdateCodecErrorCode.NON_FINITE, message: expect.stringMatching(/not finite in float32/) }),
    );
    const f32 = encodeUpdate([
      {
        name: 'x',
        numel: 1000,
        encoding: UpdateEncoding.F32,
        indices: Uint32Array.of(),
        values: Float32Array.of(),
        lowRank: [{ u: new Float32Array(100).fill(1), v: Float32Array.of(Infinity, 0, 0, 0, 0, 0, 0, 0, 0, 0) }],
      },
    ]);
    expect(() => decodeUpdate(f32, SIZES)).toThrow(/factor 0 v value 0 is not finite/);
  });
});

describe('top-k with error feedback', () => {
  const deltaArb = fc
    .array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: 5000, maxLength: 5000 })
    .map((a) => new Map([['z', Float32Array.from(a)]]));

  it('sends k values per tensor and keeps exactly what it did not send: decoded + residual = clipped target', () => {
    fc.assert(
      fc.property(deltaArb, fc.constantFrom('q8', 'f32') as fc.Arbitrary<'q8' | 'f32'>, fc.boolean(), (delta, encoding, withFactors) => {
        const o = { density: 0.01, maxAbs: 0.8, encoding, minValues: 64, rowLengths: withFactors ? ROW : undefined };
        const first = compressUpdate(delta, undefined, o);
        const sent = decodeUpdate(first.bytes, SIZES);
        expect(sent[0]!.indices!.length).toBe(topkCount(5000, 0.01, 64));
        const dense = denseValues(sent[0]!);
        const target = delta.get('z')!;
        const residual = first.residual.get('z')!;
        for (let i = 0; i < 5000; i++) expect(dense[i]! + residual[i]!).toBeCloseTo(Math.max(-0.8, Math.min(0.8, target[i]!)), 5);
        expect(sent[0]!.lowRank?.length ?? 0).toBe(withFactors ? 8 : 0);
        expect(updateStats(sent).values).toBe(first.values);
        expect(updateStats(sent).maxAbs).toBeCloseTo(maxAbs(dense), 6);
        expect(updateStats(sent).maxAbs).toBeLessThanOrEqual(0.8 * 1.02);
        // The second call adds the memory back: what was held back is sent later.
        const second = compressUpdate(new Map([['z', new Float32Array(5000)]]), first.residual, o);
        expect(second.values).toBeGreaterThan(0);
      }),
      { numRuns: 30 },
    );
  });

  it('picks the largest magnitudes', () => {
    const v = Float32Array.of(0.1, -5, 3, 0.2, -0.3, 4);
    expect(kthLargestAbs(v, 1)).toBe(5);
    expect(kthLargestAbs(v, 3)).toBe(3);
    const c = compressUpdate(new Map([['y', v]]), undefined, { density: 0.5, maxAbs: 10, encoding: 'f32', minValues: 1 });
    expect([...c.sent[0]!.indices!]).toEqual([1, 2, 5]);
  });
});

describe('low-rank factors', () => {
  const rows = 120;
  const cols = 24;
  // A rank-2 matrix plus a little noise (a fixed pattern, so the test is the same every run).
  const exact = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++)
      exact[i * cols + j] = 0.01 * Math.sin(i) * Math.cos(0.3 * j) + 0.003 * (((i * 7) % 5) - 2) * ((j % 4) - 1.5);
  const noisy = Float32Array.from(exact, (x, i) => x + 1e-5 * (((i * 2654435761) >>> 0) / 2 ** 32 - 0.5));

  it('recover a low-rank matrix: the product of rank-2 factors of a rank-2 matrix is that matrix', () => {
    const f = lowRankFactors(exact, cols, 2);
    expect(f).toHaveLength(2);
    const product = new Float32Array(rows * cols);
    for (const { u, v } of f) for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) product[i * cols + j] += u[i]! * v[j]!;
    for (let i = 0; i < product.length; i++) expect(product[i]!).toBeCloseTo(exact[i]!, 7);
    // A rank-2 matrix has no third direction: asking for 8 drops the empty ones.
    expect(lowRankFactors(exact, cols, 8).length).toBeLessThanOrEqual(8);
    expect(lowRankFactors(new Float32Array(rows * cols), cols, 8)).toEqual([]);
  });

  it('are deterministic: the same delta gives the same bytes', () => {
    const delta = new Map([['z', noisy.slice(0, 5000)]]);
    const o = { density: 0.01, maxAbs: 0.05, minValues: 64, rowLengths: ROW };
    expect(hex(compressUpdate(delta, undefined, o).bytes)).toBe(
      hex(compressUpdate(new Map([['z', Float32Array.from(delta.get('z')!)]]), undefined, o).bytes),
    );
  });

  it('keep to the bound: a product that would overshoot the clipped target is scaled back', () => {
    // Half the rows at the bound everywhere, half at the bound in their first half only: the best rank-1 fit
    // overshoots the bound by about 17% (as [[1, 1], [1, 0]]'s does); the sent update keeps to it.
    const z = Float32Array.from({ length: 5000 }, (_, i) => (i < 2500 || i % 50 < 25 ? 0.5 : 0));
    const fit = lowRankFactors(z, 50, 1)[0]!;
    expect(maxAbs(fit.u) * maxAbs(fit.v)).toBeGreaterThan(0.55);
    const c = compressUpdate(new Map([['z', z]]), undefined, { density: 0.01, maxAbs: 0.5, minValues: 64, rowLengths: ROW, rank: 1 });
    const dense = denseValues(c.sent[0]!);
    expect(maxAbs(dense)).toBeLessThanOrEqual(0.5 * 1.02);
    expect(updateStats(c.sent).maxAbs).toBeCloseTo(maxAbs(dense), 6);
  });

  it('stay out of the cosine of two updates', () => {
    const t = {
      name: 'z',
      numel: 5000,
      encoding: UpdateEncoding.F32,
      indices: Uint32Array.of(3, 9),
      values: Float32Array.of(0.5, -0.5),
      lowRank: null,
    };
    const f = [{ u: new Float32Array(100).fill(1), v: new Float32Array(50).fill(0.1) }];
    expect(updateCosine([{ ...t, lowRank: f }], [{ ...t, values: Float32Array.of(0.5, 0.5), lowRank: f }])).toBeCloseTo(0, 6);
  });
});
