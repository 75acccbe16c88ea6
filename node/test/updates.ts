/** Test helper: updates as a miner sends them, made without training. */
import type { Hex } from '../../protocol/bytes.js';
import { compressTaskUpdate } from '../../trainer/federated/task-update.js';
import { numel, paramSpecs, type ModelConfig } from '../../trainer/model/config.js';
import type { Weights } from '../../trainer/model/weights.js';
import { sha256Hex } from '../federation/model-store.js';

/**
 * A compressed update (1% top-k, as ailo-miner sends one) of a pseudo-random weight change from `seed`, each value
 * within ±scale/2 and sent clipped to ±maxAbs, and its sha256.
 */
export function pseudoRandomUpdate(
  cfg: ModelConfig,
  seed: number,
  { scale = 1e-3, maxAbs = 1 }: { scale?: number; maxAbs?: number } = {},
): { bytes: Uint8Array; digest: Hex } {
  let x = seed;
  const delta: Weights = new Map(
    paramSpecs(cfg).map((s) => [
      s.name,
      Float32Array.from({ length: numel(s.shape) }, () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5) * scale),
    ]),
  );
  const bytes = compressTaskUpdate(cfg, delta, { density: 0.01, maxAbs }).bytes;
  return { bytes, digest: `0x${sha256Hex(bytes)}` };
}
