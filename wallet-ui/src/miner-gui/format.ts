/** How the miner GUI words the miner's phases and figures. */
import type { MinerPhase } from '../../../trainer/miner/status.js';

export const PHASES: Record<MinerPhase, string> = {
  starting: 'Starting',
  'loading-model': 'Loading the model',
  training: 'Training',
  resting: 'Resting (power limit)',
  cooling: 'Cooling down (GPU above its temperature limit)',
  submitting: 'Submitting',
  waiting: 'Waiting for a task',
  stopped: 'Stopped',
};

/** A GPU's health as the dashboard shows it: "64 C, 182 W, 12.1 / 80.0 GiB". */
export function formatGpuHealth(g: { temperatureC: number; powerW?: number; memoryUsedMiB?: number; memoryTotalMiB?: number }): string {
  const parts = [`${g.temperatureC} C`];
  if (g.powerW !== undefined) parts.push(`${g.powerW.toFixed(0)} W`);
  if (g.memoryUsedMiB !== undefined && g.memoryTotalMiB !== undefined)
    parts.push(`${(g.memoryUsedMiB / 1024).toFixed(1)} / ${(g.memoryTotalMiB / 1024).toFixed(1)} GiB`);
  return parts.join(', ');
}

export function formatRate(tokensPerSecond: number): string {
  if (tokensPerSecond >= 1000) return `${(tokensPerSecond / 1000).toFixed(1)}k`;
  return tokensPerSecond.toFixed(0);
}

/** At most `n` points, evenly picked (the last always kept), so a long history draws as fast as a short one. */
export function thin<T>(points: T[], n: number): T[] {
  if (points.length <= n) return points;
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(points[Math.round((i * (points.length - 1)) / (n - 1))]!);
  return out;
}
