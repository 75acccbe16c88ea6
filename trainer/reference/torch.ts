// Finding a Python with PyTorch (Debian's python3-torch) for the optional cross-checks and benchmark anchor.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TORCH_SCRIPT = fileURLToPath(new URL('./torch_gpt2.py', import.meta.url));

/** The first of $AILO_PYTHON, python3, /usr/bin/python3 that can import torch; undefined if none. */
export function findTorchPython(): string | undefined {
  for (const py of [process.env.AILO_PYTHON, 'python3', '/usr/bin/python3']) {
    if (!py) continue;
    const r = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return undefined;
}

/** Where Debian's OpenBLAS (libopenblas0-pthread) keeps its `libblas.so.3`, if it is installed. */
export function openBlasDir(): string | undefined {
  try {
    for (const arch of readdirSync('/usr/lib')) {
      const dir = join('/usr/lib', arch, 'openblas-pthread');
      if (existsSync(join(dir, 'libblas.so.3'))) return dir;
    }
  } catch {
    // no /usr/lib
  }
  return undefined;
}

/** The BLAS a process ran on, from the libraries it mapped: 'OpenBLAS (PATH)' or 'reference BLAS (PATH)'. */
function blasName(mapped: string): string {
  const paths = mapped.split(', ');
  const open = paths.find((p) => /libopenblas/.test(p));
  if (open) return `OpenBLAS (${open})`;
  const generic = paths.find((p) => /libblas\.so/.test(p));
  return generic ? `reference BLAS (${generic})` : mapped;
}

/** One PyTorch training benchmark (torch_gpt2.py bench): speed, memory and the BLAS it ran on. */
export interface TorchBench {
  tokensPerSecond: number;
  /** Resident memory once the weights were made (bytes). */
  rssBefore: number;
  /** The process's peak resident memory (bytes). */
  maxRss: number;
  /** The BLAS library mapped into the process (a path). */
  blas: string;
}

/**
 * Times `steps` AdamW steps of PyTorch on `config` (a Hugging Face GPT-2 config JSON file) at batch x seq tokens on
 * `threads` threads. Runs on OpenBLAS when Debian's is installed (its folder first on LD_LIBRARY_PATH, so the generic
 * `libblas.so.3` torch links resolves to it rather than the reference BLAS, ten times slower here), whatever the
 * alternatives system says. Undefined (with the reason on stderr) when torch fails.
 */
export function torchBench(python: string, config: string, batch: number, seq: number, steps: number, threads = 2): TorchBench | undefined {
  const blasDir = openBlasDir();
  const env = { ...process.env };
  if (blasDir) env.LD_LIBRARY_PATH = [blasDir, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  const r = spawnSync(python, [TORCH_SCRIPT, 'bench', config, String(batch), String(seq), String(steps), String(threads)], {
    encoding: 'utf8',
    env,
  });
  const field = (name: string): string | undefined => new RegExp(`^${name} (.+)$`, 'm').exec(r.stdout)?.[1];
  const tps = field('tokens_per_s');
  if (r.status !== 0 || !tps) {
    const why = r.signal
      ? `killed by ${r.signal}${r.signal === 'SIGKILL' ? ' (most likely out of memory)' : ''}`
      : r.stderr.trim().split('\n').slice(-2).join(' ');
    process.stderr.write(`pytorch bench failed: ${why}\n`);
    return undefined;
  }
  return {
    tokensPerSecond: Number(tps),
    rssBefore: Number(field('rss_before_bytes') ?? 0),
    maxRss: Number(field('max_rss_bytes') ?? 0),
    blas: blasName(field('blas') ?? 'unknown'),
  };
}
