/**
 * An NVIDIA GPU's health as NVML reports it through nvidia-smi (temperature, power draw, memory), for the miner's
 * console and GUI and its temperature rest. Node only (runs nvidia-smi); undefined where nvidia-smi is missing or
 * does not list the device.
 */
import { execFile } from 'node:child_process';
import type { GpuHealth } from './status.js';

/** The fields asked of nvidia-smi, in order. */
const QUERY = 'index,name,temperature.gpu,power.draw,memory.used,memory.total';

/** One `--format=csv,noheader,nounits` line of QUERY; undefined when it does not parse (e.g. "[N/A]" temperature). */
export function parseGpuHealth(line: string): GpuHealth | undefined {
  const f = line.split(',').map((x) => x.trim());
  if (f.length !== 6) return undefined;
  const [index, name, temp, power, used, total] = f as [string, string, string, string, string, string];
  const num = (s: string): number | undefined => (/^-?\d+(\.\d+)?$/.test(s) ? Number(s) : undefined);
  const temperatureC = num(temp);
  if (num(index) === undefined || temperatureC === undefined) return undefined;
  return { index: num(index)!, name, temperatureC, powerW: num(power), memoryUsedMiB: num(used), memoryTotalMiB: num(total) };
}

/** The health of CUDA device `index` (device 0 by default), or undefined; never throws, at most 5 s. */
export function readGpuHealth(index = 0): Promise<GpuHealth | undefined> {
  return new Promise((resolve) => {
    execFile(
      'nvidia-smi',
      [`--query-gpu=${QUERY}`, '--format=csv,noheader,nounits', `--id=${index}`],
      { timeout: 5_000 },
      (err, stdout) => {
        if (err) return resolve(undefined);
        resolve(parseGpuHealth(stdout.trim().split('\n')[0] ?? ''));
      },
    );
  });
}
