// The matmul speed onnxruntime reaches on a provider: the figure model FLOPs utilisation is measured against.
import { GraphBuilder } from '../trainer/onnx/builder.js';
import type { Provider } from '../trainer/runtime/provider.js';
import { createSession, ort } from '../trainer/runtime/session.js';

/**
 * onnxruntime's float32 matmul speed on `provider`, FLOP/s: an n x n matrix by itself (2 n^3 FLOPs a run), the best
 * of `runs`. A device-resident result is read back each run, so the time covers the work, not only its submission.
 */
export async function matmulFlops(provider: Provider, n: number, runs = 5): Promise<number> {
  const g = new GraphBuilder('matmul');
  const a = g.input('a', 'float32', [n, n]);
  g.output(g.op('MatMul', [a, a]), 'c', 'float32', [n, n]);
  const session = await createSession(g.toBytes('matmul'), provider, { deviceOutputs: ['c'] });
  const x = new ort.Tensor(
    'float32',
    Float32Array.from({ length: n * n }, (_, i) => ((i % 13) - 6) / 13),
    [n, n],
  );
  let best = Infinity;
  try {
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const out = await session.run({ a: x });
      await out.c!.getData(true);
      best = Math.min(best, performance.now() - t0);
    }
  } finally {
    await session.release();
  }
  return (2 * n ** 3) / (best / 1000);
}
