/**
 * The reward formula of a `contribution` (DESIGN.md, Federated training): one place that the coordinator's
 * scoring, block validation and the audit all use.
 *
 * - `qualityFromWork`: the multiplier (thousandths) for the verified useful work of a submission, given as the
 *   ratio of its task-specific loss gain to the gain of the coordinator's own reference task on the same model
 *   version (1 = as much as a full, honest task). Linear, so half the work earns half; `FULL_WORK_RATIO` of the
 *   reference reaches the maximum. A submission below the acceptance floor earns nothing (it is refused, not paid
 *   the minimum).
 * - `contributionReward`: base units paid for a quality: `contributionBase * quality / 1000`.
 */
import type { RewardPolicy } from './spec.js';

/**
 * Work ratio at which the multiplier reaches `maxQuality`: a full, honest task (honest tasks scatter around 1: 0.73-1.11
 * at the CI's task size, 0.34-1.62 at the devnet's). More than a full task's gain earns no more, so training longer or harder than the
 * task asks (which overfits) never pays better than the task.
 */
export const FULL_WORK_RATIO = 1;

/** The quality multiplier, thousandths, for `workRatio` (>= 0); clamped to the policy's range. */
export function qualityFromWork(policy: RewardPolicy, workRatio: number): number {
  if (!(workRatio >= 0)) throw new RangeError(`work ratio must be a non-negative number, got ${workRatio}`);
  const q = Math.round((policy.maxQuality * Math.min(workRatio, FULL_WORK_RATIO)) / FULL_WORK_RATIO);
  return Math.max(policy.minQuality, Math.min(policy.maxQuality, q));
}

/** Base units for a contribution of `quality` thousandths (the chain refuses any other amount). */
export function contributionReward(policy: RewardPolicy, quality: number): bigint {
  return (policy.contributionBase * BigInt(quality)) / 1000n;
}
