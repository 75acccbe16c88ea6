// The codec's fixed test vectors: small updates whose exact bytes are committed in vectors.json.
import { UpdateEncoding, type ModelUpdate } from './update-codec.js';

export const VECTOR_SIZES = new Map([['a.weight', 12], ['a.bias', 4], ['b.weight', 300]]);

export const VECTORS: Record<string, ModelUpdate> = {
  empty: [],
  q8_sparse: [{ name: 'a.weight', numel: 12, encoding: UpdateEncoding.Q8, indices: Uint32Array.of(0, 3, 11), values: Float32Array.of(0.5, -1, 0.25), rowMean: null }],
  f32_with_row_mean: [{ name: 'a.weight', numel: 12, encoding: UpdateEncoding.F32, indices: Uint32Array.of(5), values: Float32Array.of(-0.125), rowMean: Float32Array.of(0.01, -0.02, 0.03, 0) }],
  dense_and_long_gap: [
    { name: 'a.bias', numel: 4, encoding: UpdateEncoding.DENSE, indices: null, values: Float32Array.of(1, -2, 0.5, 0), rowMean: null },
    { name: 'b.weight', numel: 300, encoding: UpdateEncoding.Q8, indices: Uint32Array.of(1, 200, 299), values: Float32Array.of(0.003, -0.001, 0.002), rowMean: Float32Array.of(0.5, -0.5, 0.25) },
  ],
};
