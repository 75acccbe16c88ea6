// Token batches as the graphs take them: int64 input ids and targets [B, T], checked against the vocabulary.
import { TrainerError, TrainerErrorCode } from '../errors.js';
import type { ModelConfig } from '../model/config.js';

export interface TokenBatch {
  batch: number;
  seq: number;
  ids: BigInt64Array;
  targets: BigInt64Array;
}

/** Rows of T+1 token ids each: inputs are the first T, targets the last T. */
export function tokenBatch(cfg: ModelConfig, rows: ArrayLike<ArrayLike<number>>): TokenBatch {
  const B = rows.length;
  if (B === 0) throw new TrainerError(TrainerErrorCode.BAD_TOKENS, 'the token batch is empty');
  const L = rows[0]!.length;
  if (L < 2)
    throw new TrainerError(TrainerErrorCode.BAD_TOKENS, `each token row needs at least 2 ids (inputs and a target), row 0 has ${L}`);
  const T = L - 1;
  if (T > cfg.n_positions)
    throw new TrainerError(
      TrainerErrorCode.BAD_TOKENS,
      `token rows of ${L} ids give ${T} positions, more than the model's n_positions ${cfg.n_positions}`,
    );
  const ids = new BigInt64Array(B * T);
  const targets = new BigInt64Array(B * T);
  for (let b = 0; b < B; b++) {
    const row = rows[b]!;
    if (row.length !== L)
      throw new TrainerError(
        TrainerErrorCode.BAD_TOKENS,
        `token row ${b} has ${row.length} ids, row 0 has ${L}; all rows must be the same length`,
      );
    for (let i = 0; i < L; i++) {
      const id = row[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= cfg.vocab_size) {
        throw new TrainerError(
          TrainerErrorCode.TOKEN_OUT_OF_RANGE,
          `token id ${id} at row ${b}, position ${i} is out of range (vocab_size ${cfg.vocab_size})`,
        );
      }
      if (i < T) ids[b * T + i] = BigInt(id);
      if (i > 0) targets[b * T + i - 1] = BigInt(id);
    }
  }
  return { batch: B, seq: T, ids, targets };
}
