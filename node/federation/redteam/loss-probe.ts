/**
 * The attacker's own check that an attack is what it claims (an overfit update really lowers the task rows' loss and
 * raises held-out loss): mean cross-entropy before and after an update, on rows the attacker holds.
 */
import { addUpdateInto } from '../../../trainer/codec/compress.js';
import type { ModelUpdate } from '../../../trainer/codec/update-codec.js';
import type { ModelConfig } from '../../../trainer/model/config.js';
import type { Weights } from '../../../trainer/model/weights.js';
import { ForwardSession } from '../../../trainer/runtime/model-session.js';
import { tokenBatch } from '../../../trainer/runtime/tokens.js';

export interface LossChange {
  before: number;
  after: number;
}

export class LossProbe {
  private readonly session: ForwardSession;

  constructor(readonly cfg: ModelConfig) {
    this.session = new ForwardSession(cfg, 'cpu');
  }

  /** Mean loss over `tokens` cut into rows of `width`, 8 rows a batch. */
  async loss(weights: Weights, tokens: Uint16Array, width: number): Promise<number> {
    await this.session.setWeights(weights);
    const rows: number[][] = [];
    for (let at = 0; at + width <= tokens.length; at += width) rows.push(Array.from(tokens.subarray(at, at + width)));
    let sum = 0;
    for (let i = 0; i < rows.length; i += 8) {
      const batch = rows.slice(i, i + 8);
      sum += (await this.session.loss(tokenBatch(this.cfg, batch))) * batch.length;
    }
    return sum / rows.length;
  }

  async change(base: Weights, update: ModelUpdate, tokens: Uint16Array, width: number): Promise<LossChange> {
    const after: Weights = new Map(base);
    for (const t of update) after.set(t.name, Float32Array.from(base.get(t.name)!));
    addUpdateInto(after, update);
    return { before: await this.loss(base, tokens, width), after: await this.loss(after, tokens, width) };
  }

  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}
