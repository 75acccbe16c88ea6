// Finding a Python with PyTorch (Debian's python3-torch) for the optional cross-checks and benchmark anchor.
import { spawnSync } from 'node:child_process';
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
