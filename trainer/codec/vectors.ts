// The codec's fixed test vectors: small updates whose exact bytes (and decoded values) are committed in
// vectors.json. They were written once from encodeUpdate/decodeUpdate; a codec change that alters them is a new
// codec version (write them again then, and check the new bytes by hand against the layout in update-codec.ts).
import { UpdateEncoding, type ModelUpdate } from './update-codec.js';

export const VECTOR_SIZES = new Map([
  ['a.weight', 12],
  ['a.bias', 4],
  ['b.weight', 300],
]);

export const VECTORS: Record<string, ModelUpdate> = {
  empty: [],
  q8_sparse: [
    {
      name: 'a.weight',
      numel: 12,
      encoding: UpdateEncoding.Q8,
      indices: Uint32Array.of(0, 3, 11),
      values: Float32Array.of(0.5, -1, 0.25),
      lowRank: null,
    },
  ],
  q8_rank1: [
    {
      name: 'a.weight',
      numel: 12,
      encoding: UpdateEncoding.Q8,
      indices: Uint32Array.of(),
      values: Float32Array.of(),
      lowRank: [{ u: Float32Array.of(1, -0.5, 0), v: Float32Array.of(0.5, 0.25, 0, -0.5) }],
    },
  ],
  f32_rank1: [
    {
      name: 'a.weight',
      numel: 12,
      encoding: UpdateEncoding.F32,
      indices: Uint32Array.of(5),
      values: Float32Array.of(-0.125),
      lowRank: [{ u: Float32Array.of(0.01, -0.02, 0.03), v: Float32Array.of(0.5, 0.5, -0.5, 0.5) }],
    },
  ],
  dense_and_long_gap_rank2: [
    { name: 'a.bias', numel: 4, encoding: UpdateEncoding.DENSE, indices: null, values: Float32Array.of(1, -2, 0.5, 0), lowRank: null },
    {
      name: 'b.weight',
      numel: 300,
      encoding: UpdateEncoding.Q8,
      indices: Uint32Array.of(1, 200, 299),
      values: Float32Array.of(0.003, -0.001, 0.002),
      lowRank: [
        { u: Float32Array.from({ length: 100 }, (_, i) => ((i * 37) % 101) / 100 - 0.5), v: Float32Array.of(0.6, 0, -0.8) },
        { u: Float32Array.from({ length: 100 }, (_, i) => (i % 2 ? 1 : -1) * i * 1e-4), v: Float32Array.of(0, 1, 0) },
      ],
    },
  ],
};
