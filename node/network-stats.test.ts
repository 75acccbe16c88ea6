import { describe, expect, it } from 'vitest';
import { ACTIVE_MINER_MS, NetworkStats } from './network-stats.js';

describe('network activity', () => {
  it('counts miners that asked or worked recently, and lets the rate and the count fall once they stop (issue 17)', () => {
    let t = 0;
    const stats = new NetworkStats(() => t);
    // Two miners, each with 8,192 tokens accepted every 10 s for 5 minutes: about 1,638 tokens a second.
    for (; t < 300_000; t += 10_000) {
      stats.recordWork('a', 8192);
      stats.recordWork('b', 8192);
    }
    stats.recordSeen('c'); // asked for a task, nothing accepted yet
    expect(stats.activeParticipants()).toBe(3);
    const steady = stats.tokensPerSecond();
    expect(steady).toBeGreaterThan(1300);
    expect(steady).toBeLessThan(2000);
    t += 60_000; // a minute after every miner stopped: the rate fell by about e
    expect(stats.tokensPerSecond()).toBeLessThan(steady / 2.5);
    t += ACTIVE_MINER_MS; // and soon nobody is counted, nor any rate
    expect(stats.activeParticipants()).toBe(0);
    expect(stats.tokensPerSecond()).toBeLessThan(steady / 20);
    t += 10 * 60_000;
    expect(stats.tokensPerSecond()).toBe(0);
  });
});
