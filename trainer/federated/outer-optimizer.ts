/**
 * The coordinator's side of a round (browser-safe math): FedAvg of the accepted updates, weighted by the tokens
 * each trained on, then an outer Nesterov-momentum step on the pseudo-gradient, as in DiLoCo
 * (Douillard et al. 2023). DiLoCo's outer lr 0.7 and momentum 0.9 assume hundreds of inner steps per round; with
 * the network's short tasks (12-16 inner steps) they oscillated and diverged on ailo-tiny (held-out 10.8 -> 9.1 ->
 * 15.9 in six rounds), so the default is lr 0.9 with momentum 0.3 (10.8 -> 7.8).
 */
import { addUpdateInto, type TensorValues } from '../codec/compress.js';
import type { ModelUpdate } from '../codec/update-codec.js';

export interface OuterOptimizerOptions {
  lr: number;
  momentum: number;
}

export const DILOCO_OUTER: OuterOptimizerOptions = { lr: 0.9, momentum: 0.3 };

export interface WeightedUpdate {
  update: ModelUpdate;
  /** Tokens the update was trained on (its FedAvg weight). */
  tokens: number;
}

function zerosLike(w: TensorValues): TensorValues {
  return new Map([...w].map(([k, v]) => [k, new Float32Array(v.length)]));
}

/** The token-weighted mean of the updates as dense tensors shaped like `like`. */
export function federatedAverage(like: TensorValues, updates: readonly WeightedUpdate[]): TensorValues {
  const total = updates.reduce((s, u) => s + u.tokens, 0);
  if (updates.length === 0 || !(total > 0)) throw new RangeError('averaging needs at least one update with tokens');
  const avg = zerosLike(like);
  for (const u of updates) addUpdateInto(avg, u.update, u.tokens / total);
  return avg;
}

/**
 * One outer step: pseudo-gradient g = -mean update; m = mu m + g; weights -= lr (g + mu m).
 * Returns new weights and momentum; the inputs are left unchanged.
 */
export function outerStep(
  weights: TensorValues,
  momentum: TensorValues | undefined,
  meanUpdate: TensorValues,
  o: OuterOptimizerOptions = DILOCO_OUTER,
): { weights: TensorValues; momentum: TensorValues } {
  const nextW: TensorValues = new Map();
  const nextM: TensorValues = new Map();
  for (const [name, w] of weights) {
    const u = meanUpdate.get(name);
    const m0 = momentum?.get(name);
    const m = new Float32Array(w.length);
    const out = new Float32Array(w.length);
    for (let i = 0; i < w.length; i++) {
      const g = u ? -u[i]! : 0;
      const mi = o.momentum * (m0 ? m0[i]! : 0) + g;
      m[i] = mi;
      out[i] = w[i]! - o.lr * (g + o.momentum * mi);
    }
    nextW.set(name, out);
    nextM.set(name, m);
  }
  return { weights: nextW, momentum: nextM };
}

/**
 * The outer step a model version records (`model_version`'s outerLrPpm and momentumRestart): the learning rate in
 * millionths, 0 meaning that the version keeps its parent's weights with the momentum reset; and whether the momentum
 * was dropped before the step (adaptive restart).
 */
export interface OuterStepRecord {
  outerLrPpm: number;
  momentumRestart: boolean;
}

/**
 * The recorded outer step along a round's FedAvg `mean` (see `applyRound`); the coordinator tries candidate records
 * with it and publishes the one it chose, so what it publishes is what `applyRound` recomputes.
 */
export function recordedStep(
  parent: TensorValues,
  momentum: TensorValues | undefined,
  mean: TensorValues,
  step: OuterStepRecord,
  outerMomentum: number = DILOCO_OUTER.momentum,
): { weights: TensorValues; momentum: TensorValues } {
  if (step.outerLrPpm === 0) return { weights: parent, momentum: zerosLike(parent) };
  return outerStep(parent, step.momentumRestart ? undefined : momentum, mean, { lr: step.outerLrPpm / 1e6, momentum: outerMomentum });
}

/**
 * A round's result as a pure function of its inputs: the parent version's weights and outer momentum (undefined at
 * version 0), the accepted updates in the order the `model_version` lists their contributions, each weighted by the
 * tokens its contribution records, and the recorded outer step. FedAvg then the outer Nesterov step, in float32
 * tensors updated in a fixed order with IEEE double arithmetic per element (JavaScript has no fused multiply-add), so
 * every machine gets the same bytes.
 */
export function applyRound(
  parent: TensorValues,
  momentum: TensorValues | undefined,
  updates: readonly WeightedUpdate[],
  step: OuterStepRecord,
  outerMomentum: number = DILOCO_OUTER.momentum,
): { weights: TensorValues; momentum: TensorValues } {
  if (step.outerLrPpm === 0) return recordedStep(parent, momentum, parent, step, outerMomentum);
  return recordedStep(parent, momentum, federatedAverage(parent, updates), step, outerMomentum);
}
