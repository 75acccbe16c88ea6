/**
 * The coordinator's own measurement of a submission (never the loss the miner reports): mean cross-entropy
 * before and after applying the update, on rows of the task's tokens that the coordinator picks and on a
 * held-out batch, turned into the 1x-10x quality multiplier of the contribution record.
 */
import { denseValues, type ModelUpdate } from '../../trainer/codec/update-codec.js';
import type { ModelConfig } from '../../trainer/model/config.js';
import type { Weights } from '../../trainer/model/weights.js';
import { ForwardSession } from '../../trainer/runtime/model-session.js';
import type { Provider } from '../../trainer/runtime/provider.js';
import { tokenBatch, type TokenBatch } from '../../trainer/runtime/tokens.js';

export interface QualityPolicy {
  /** Weighted gain (nats) at which the multiplier reaches 10x. */
  fullScoreNats: number;
  /** Weight of the held-out gain; the task-token gain gets the rest. */
  heldOutWeight: number;
  minQuality: number;
  maxQuality: number;
}

export interface QualityMeasurement {
  taskLossBefore: number;
  taskLossAfter: number;
  heldLossBefore: number;
  heldLossAfter: number;
  /** Thousandths: 1000 (1x) .. 10000 (10x). */
  quality: number;
}

export function qualityFromGains(taskGain: number, heldGain: number, p: QualityPolicy): number {
  const score = Math.max(0, (1 - p.heldOutWeight) * taskGain + p.heldOutWeight * heldGain);
  const q = p.minQuality + Math.round((p.maxQuality - p.minQuality) * Math.min(1, score / p.fullScoreNats));
  return Math.max(p.minQuality, Math.min(p.maxQuality, q));
}

/** `base + update` as new tensors (only the touched tensors are copied). */
export function applyUpdate(base: Weights, update: ModelUpdate): Weights {
  const out: Weights = new Map(base);
  for (const t of update) {
    const w = Float32Array.from(base.get(t.name)!);
    const d = denseValues(t);
    for (let i = 0; i < w.length; i++) w[i] = w[i]! + d[i]!;
    out.set(t.name, w);
  }
  return out;
}

export class QualityMeter {
  private readonly session: ForwardSession;
  private readonly baseHeld = new Map<Weights, number>();

  constructor(readonly cfg: ModelConfig, provider: Provider, private readonly policy: QualityPolicy) {
    this.session = new ForwardSession(cfg, provider);
  }

  async loss(weights: Weights, batch: TokenBatch): Promise<number> {
    await this.session.setWeights(weights);
    return this.session.loss(batch);
  }

  /** Rows are `seqLen + 1` ids each: the task rows the coordinator picked, and the held-out rows of this version. */
  async measure(base: Weights, update: ModelUpdate, taskRows: number[][], heldRows: number[][]): Promise<QualityMeasurement> {
    const task = tokenBatch(this.cfg, taskRows);
    const held = tokenBatch(this.cfg, heldRows);
    let heldLossBefore = this.baseHeld.get(base);
    if (heldLossBefore === undefined) {
      heldLossBefore = await this.loss(base, held);
      this.baseHeld.clear();
      this.baseHeld.set(base, heldLossBefore);
    }
    const taskLossBefore = await this.loss(base, task);
    const after = applyUpdate(base, update);
    const taskLossAfter = await this.loss(after, task);
    const heldLossAfter = await this.loss(after, held);
    const quality = qualityFromGains(taskLossBefore - taskLossAfter, heldLossBefore - heldLossAfter, this.policy);
    return { taskLossBefore, taskLossAfter, heldLossBefore, heldLossAfter, quality };
  }

  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}
