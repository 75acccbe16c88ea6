import { describe, expect, it } from 'vitest';
import { contributionReward, FULL_WORK_RATIO, qualityFromWork } from './rewards.js';
import { ALC, type RewardPolicy } from './spec.js';

const policy: RewardPolicy = {
  contributionBase: ALC / 10n,
  minQuality: 1000,
  maxQuality: 10_000,
  inferenceShare: ALC / 20n,
  maxStaleness: 4n,
};

describe('reward formula', () => {
  it('pays in proportion to verified work: half the work, half the multiplier', () => {
    const full = qualityFromWork(policy, 1);
    const half = qualityFromWork(policy, 0.5);
    expect(full).toBe(Math.round(10_000 / FULL_WORK_RATIO));
    expect(half / full).toBeCloseTo(0.5, 2);
    expect(qualityFromWork(policy, FULL_WORK_RATIO)).toBe(10_000);
    expect(qualityFromWork(policy, 1.6)).toBe(10_000); // more than the task's gain (overtraining) earns no more
    expect(qualityFromWork(policy, 50)).toBe(10_000);
    expect(qualityFromWork(policy, 0.01)).toBe(1000); // the chain's floor; the coordinator refuses such work before
    expect(() => qualityFromWork(policy, Number.NaN)).toThrow(RangeError);
    expect(() => qualityFromWork(policy, -1)).toThrow(RangeError);
  });

  it('reward = contributionBase * quality / 1000', () => {
    expect(contributionReward(policy, 1000)).toBe(ALC / 10n);
    expect(contributionReward(policy, 6667)).toBe(((ALC / 10n) * 6667n) / 1000n);
  });
});
