// Reading an NVIDIA GPU's health from nvidia-smi's CSV, and the miner resting while its GPU is above the limit.
import { describe, expect, it } from 'vitest';
import { parseGpuHealth } from './gpu-health.js';
import { MinerLoop } from './miner-loop.js';
import type { GpuHealth, MinerPhase } from './status.js';

describe('GPU health', () => {
  it('reads nvidia-smi lines, leaving out what it reports as unavailable', () => {
    expect(parseGpuHealth('0, NVIDIA H200, 41, 123.45, 1024, 143771')).toEqual({
      index: 0,
      name: 'NVIDIA H200',
      temperatureC: 41,
      powerW: 123.45,
      memoryUsedMiB: 1024,
      memoryTotalMiB: 143771,
    });
    expect(parseGpuHealth('1, NVIDIA GeForce RTX 3060, 67, [N/A], 5012, 12288')).toEqual({
      index: 1,
      name: 'NVIDIA GeForce RTX 3060',
      temperatureC: 67,
      powerW: undefined,
      memoryUsedMiB: 5012,
      memoryTotalMiB: 12288,
    });
    for (const bad of ['', 'No devices were found', '0, GPU, [N/A], 1, 2, 3', '0, a, 1, 2']) expect(parseGpuHealth(bad)).toBeUndefined();
  });

  it('rests above the limit until the GPU is 5 degrees below it, saying so, with the health in its status', async () => {
    const readings = [85, 82, 77, 74, 60];
    const seen: GpuHealth[] = [];
    const phases: MinerPhase[] = [];
    const log: string[] = [];
    const miner = new MinerLoop({
      wallet: '0x' + '11'.repeat(20),
      signTaskRequest: () => Promise.reject(new Error('not asked')),
      nodeUrl: 'http://127.0.0.1:9',
      platform: {
        chunks: { fetch: () => Promise.reject(new Error('not asked')) },
        openSession: () => Promise.reject(new Error('not asked')),
      },
      power: 100,
      gpuHealth: async () => {
        const h = { index: 0, name: 'test GPU', temperatureC: readings.shift()! };
        seen.push(h);
        return h;
      },
      healthEveryMs: 1,
      log: (l) => log.push(l),
      onStatus: (s) => phases.push(s.phase),
    });
    await miner.coolDown();
    expect(seen.map((h) => h.temperatureC)).toEqual([85, 82, 77, 74]); // read until 74 <= 80 - 5
    expect(miner.status.gpu?.temperatureC).toBe(74);
    expect(phases[0]).toBe('cooling');
    expect(log[0]).toMatch(/GPU 0 \(test GPU\) at 85 C, above the 80 C limit: resting until it cools to 75 C/);
    expect(log[1]).toMatch(/at 74 C: training again/);
    // At or below the limit: no rest.
    await new Promise((r) => setTimeout(r, 5));
    await miner.coolDown();
    expect(seen.at(-1)?.temperatureC).toBe(60);
    expect(log).toHaveLength(2);
  });
});
