// Training and held-out batches from a token shard set: whole, non-overlapping (shard, offset) addresses, so
// any batch can be named and recomputed by someone else.
import { batchRows, listBatchAddresses, type BatchAddress, type ShardSet, type ShardSplit } from '../corpus/shards.js';
import { TrainerError, TrainerErrorCode } from '../errors.js';
import type { ModelConfig } from '../model/config.js';
import { tokenBatch, type TokenBatch } from '../runtime/tokens.js';

export interface AddressedBatch {
  address: BatchAddress;
  batch: TokenBatch;
}

export class BatchStream {
  private next = 0;
  readonly addresses: BatchAddress[];

  constructor(
    readonly set: ShardSet,
    readonly split: ShardSplit,
    readonly cfg: ModelConfig,
    readonly batchSize: number,
    readonly seqLen: number,
  ) {
    this.addresses = listBatchAddresses(set.manifest, split, batchSize, seqLen);
    if (this.addresses.length === 0) {
      throw new TrainerError(
        TrainerErrorCode.BAD_TOKENS,
        `the ${split} split of ${set.dir} holds ${set.splitTokens(split)} tokens, fewer than one batch of ${batchSize}x${seqLen + 1}; use a smaller --batch or --seq`,
      );
    }
  }

  read(address: BatchAddress): AddressedBatch {
    return { address, batch: tokenBatch(this.cfg, batchRows(this.set.readBatch(address))) };
  }

  /** The next batch in order, wrapping around at the end of the split (an epoch). */
  take(): AddressedBatch {
    const a = this.addresses[this.next % this.addresses.length]!;
    this.next++;
    return this.read(a);
  }

  /** The first `n` batches (or all there are), for a fixed held-out evaluation. */
  first(n: number): AddressedBatch[] {
    return this.addresses.slice(0, n).map((a) => this.read(a));
  }
}

/** Linear warmup, then cosine decay to a tenth of the peak. */
export function learningRate(step: number, total: number, peak: number, warmup = Math.min(100, Math.floor(total / 10))): number {
  if (step < warmup) return (peak * (step + 1)) / warmup;
  const t = (step - warmup) / Math.max(1, total - warmup);
  return peak * (0.1 + 0.45 * (1 + Math.cos(Math.PI * Math.min(1, t))));
}
