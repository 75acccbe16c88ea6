// The update codec: committed vectors, round trips, tamper and garbage rejection, and the error-feedback invariant.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compressUpdate, kthLargestAbs, topkCount } from './compress.js';
import { decodeUpdate, denseValues, encodeUpdate, UpdateCodecError, UpdateEncoding, updateStats, type ModelUpdate } from './update-codec.js';
import { VECTORS, VECTOR_SIZES } from './vectors.js';

const vectors = JSON.parse(readFileSync(new URL('./vectors.json', import.meta.url), 'utf8')) as Record<string, { hex: string; decoded: any[] }>;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('update codec vectors', () => {
  for (const [name, update] of Object.entries(VECTORS)) {
    it(`${name}: encodes to the committed bytes and decodes to the committed values`, () => {
      const v = vectors[name]!;
      expect(hex(encodeUpdate(update))).toBe(v.hex);
      const decoded = decodeUpdate(Buffer.from(v.hex, 'hex'), VECTOR_SIZES);
      expect(decoded.map((t) => ({ name: t.name, encoding: t.encoding, indices: t.indices ? [...t.indices] : null, values: [...t.values], rowMean: t.rowMean ? [...t.rowMean] : null }))).toEqual(v.decoded);
    });
  }

  it('the q8 vector spells out header, gaps and quantized values', () => {
    // "AILU", v1, no flags, 1 tensor; "a.weight", 12 values, q8, 3 values, no row mean, scale 1/127, 3 gap bytes (0, 2, 7), 64 -127 32
    expect(vectors.q8_sparse!.hex).toBe('41494c5501000100' + '08' + Buffer.from('a.weight').toString('hex') + '0c000000' + '00' + '03000000' + '00000000' + '0402013c' + '03000000' + '000207' + '408120');
  });
});

const SIZES = new Map([['x', 1000], ['y', 64], ['z', 5000]]);
const ROW = new Map([['x', 10], ['z', 50]]);

const updateArb: fc.Arbitrary<ModelUpdate> = fc.subarray(['x', 'y', 'z']).chain((names) =>
  fc.tuple(...names.map((name) => {
    const n = SIZES.get(name)!;
    return fc.record({
      encoding: fc.constantFrom(UpdateEncoding.Q8, UpdateEncoding.F32, UpdateEncoding.DENSE),
      idx: fc.uniqueArray(fc.integer({ min: 0, max: n - 1 }), { maxLength: 40 }),
      vals: fc.array(fc.float({ min: -4, max: 4, noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n }),
      mean: fc.boolean(),
    }).map(({ encoding, idx, vals, mean }) => {
      const indices = Uint32Array.from(idx.sort((a, b) => a - b));
      const rowLen = ROW.get(name);
      return {
        name, numel: n, encoding,
        indices: encoding === UpdateEncoding.DENSE ? null : indices,
        values: encoding === UpdateEncoding.DENSE ? Float32Array.from(vals) : Float32Array.from(indices, (i) => vals[i]!),
        rowMean: mean && rowLen ? Float32Array.from({ length: rowLen }, (_, j) => vals[j]! / 10) : null,
      };
    });
  })));

describe('update codec properties', () => {
  it('round trip: f32 and dense exactly, q8 to within half a quantization step', () => {
    fc.assert(fc.property(updateArb, (u) => {
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
        // Encoding what was decoded gives the same bytes again (the decoded values are a fixed point).
      });
      expect(hex(encodeUpdate(d))).toBe(hex(encodeUpdate(decodeUpdate(encodeUpdate(d), SIZES))));
    }), { numRuns: 150 });
  });

  it('every truncation and every trailing byte is refused with an UpdateCodecError', () => {
    fc.assert(fc.property(updateArb.filter((u) => u.length > 0), fc.nat(), (u, cut) => {
      const bytes = encodeUpdate(u);
      const at = cut % bytes.length;
      expect(() => decodeUpdate(bytes.subarray(0, at), SIZES)).toThrow(UpdateCodecError);
      expect(() => decodeUpdate(Uint8Array.from([...bytes, 0]), SIZES)).toThrow(UpdateCodecError);
    }), { numRuns: 100 });
  });

  it('random bytes, and random single-byte changes, never decode into anything but a checked update', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      try {
        decodeUpdate(bytes, SIZES);
      } catch (err) {
        expect(err).toBeInstanceOf(UpdateCodecError);
      }
    }), { numRuns: 500 });
    fc.assert(fc.property(updateArb.filter((u) => u.length > 0), fc.nat(), fc.integer({ min: 1, max: 255 }), (u, pos, x) => {
      const bytes = encodeUpdate(u);
      bytes[pos % bytes.length] ^= x;
      try {
        const d = decodeUpdate(bytes, SIZES);
        for (const t of d) {
          expect(SIZES.get(t.name)).toBe(t.numel);
          for (const v of t.values) expect(Number.isFinite(v)).toBe(true);
          if (t.indices) for (const i of t.indices) expect(i).toBeLessThan(t.numel);
        }
      } catch (err) {
        expect(err).toBeInstanceOf(UpdateCodecError);
      }
    }), { numRuns: 300 });
  });

  it('refuses NaN, an unknown tensor, a wrong size and a repeated tensor', () => {
    const nan = encodeUpdate([{ name: 'y', numel: 64, encoding: UpdateEncoding.F32, indices: Uint32Array.of(1), values: Float32Array.of(NaN), rowMean: null }]);
    expect(() => decodeUpdate(nan, SIZES)).toThrow(/not finite/);
    const unknown = encodeUpdate([{ name: 'w', numel: 64, encoding: UpdateEncoding.DENSE, indices: null, values: new Float32Array(64), rowMean: null }]);
    expect(() => decodeUpdate(unknown, SIZES)).toThrow(/no tensor "w"/);
    const wrong = encodeUpdate([{ name: 'y', numel: 65, encoding: UpdateEncoding.DENSE, indices: null, values: new Float32Array(65), rowMean: null }]);
    expect(() => decodeUpdate(wrong, SIZES)).toThrow(/has 64 values in the model/);
    const t = { name: 'y', numel: 64, encoding: UpdateEncoding.DENSE, indices: null, values: new Float32Array(64), rowMean: null };
    expect(() => decodeUpdate(encodeUpdate([t, t]), SIZES)).toThrow(/repeated or out of/);
  });
});

describe('top-k with error feedback', () => {
  const deltaArb = fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: 5000, maxLength: 5000 }).map((a) => new Map([['z', Float32Array.from(a)]]));

  it('sends k values per tensor and keeps exactly what it did not send: decoded + residual = clipped target', () => {
    fc.assert(fc.property(deltaArb, fc.constantFrom('q8', 'f32') as fc.Arbitrary<'q8' | 'f32'>, fc.boolean(), (delta, encoding, withMean) => {
      const o = { density: 0.01, maxAbs: 0.8, encoding, minValues: 64, rowLengths: withMean ? ROW : undefined };
      const first = compressUpdate(delta, undefined, o);
      const sent = decodeUpdate(first.bytes, SIZES);
      expect(sent[0]!.indices!.length).toBe(topkCount(5000, 0.01, 64));
      const dense = denseValues(sent[0]!);
      const target = delta.get('z')!;
      const residual = first.residual.get('z')!;
      for (let i = 0; i < 5000; i++) expect(dense[i]! + residual[i]!).toBeCloseTo(Math.max(-0.8, Math.min(0.8, target[i]!)), 5);
      expect(updateStats(sent).maxAbs).toBeLessThanOrEqual(0.8 * 1.02);
      // The second call adds the memory back: what was held back is sent later.
      const second = compressUpdate(new Map([['z', new Float32Array(5000)]]), first.residual, o);
      expect(second.values).toBeGreaterThan(0);
    }), { numRuns: 30 });
  });

  it('picks the largest magnitudes', () => {
    const v = Float32Array.of(0.1, -5, 3, 0.2, -0.3, 4);
    expect(kthLargestAbs(v, 1)).toBe(5);
    expect(kthLargestAbs(v, 3)).toBe(3);
    const c = compressUpdate(new Map([['y', v]]), undefined, { density: 0.5, maxAbs: 10, encoding: 'f32', minValues: 1 });
    expect([...c.sent[0]!.indices!]).toEqual([1, 2, 5]);
  });
});
