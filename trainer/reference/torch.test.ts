// Gradients against an independent PyTorch GPT-2 (reference/torch_gpt2.py), when python3-torch is installed.
// CI does not install torch; then this test is skipped and says so.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { type ModelConfig, paramSpecs, toHfConfigJson } from '../model/config.js';
import { initWeights } from '../model/weights.js';
import { GradientSession } from '../runtime/model-session.js';
import { tokenBatch } from '../runtime/tokens.js';
import { readSafetensors, saveWeights } from '../weights/safetensors.js';
import { findTorchPython, TORCH_SCRIPT } from './torch.js';

const python = findTorchPython();
if (!python) console.warn('skipping the PyTorch gradient check: no python3 with torch (apt-get install python3-torch)');
const dir = await mkdtemp(join(tmpdir(), 'ailo-torch-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

it.skipIf(!python)('loss and every gradient match PyTorch 1.13 autograd (relative error < 1e-4 per tensor)', async () => {
  const cfg: ModelConfig = { vocab_size: 211, n_positions: 32, n_embd: 48, n_layer: 3, n_head: 4, n_inner: 96, layer_norm_epsilon: 1e-5 };
  const w = initWeights(cfg, 21);
  for (const [k, t] of w)
    if (k.includes('ln_') || k.endsWith('.bias')) for (let i = 0; i < t.length; i++) t[i] = t[i]! + Math.sin(i + k.length) * 0.3;
  const W = join(dir, 'w.safetensors'),
    G = join(dir, 'g.safetensors'),
    C = join(dir, 'config.json'),
    X = join(dir, 'tokens.json');
  await saveWeights(W, cfg, w);
  await writeFile(C, JSON.stringify(toHfConfigJson(cfg)));
  const rows = Array.from({ length: 3 }, (_, b) => Array.from({ length: 21 }, (_, i) => (i * i * 7 + b * 31) % 211));
  await writeFile(X, JSON.stringify({ tokens: rows }));
  const r = spawnSync(python!, [TORCH_SCRIPT, 'grad', C, W, X, G], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const torchLoss = Number(/loss (\S+)/.exec(r.stdout)![1]);
  const torchGrads = await readSafetensors(G);

  const gs = await GradientSession.create(cfg, 'cpu', 3, 20);
  const { loss, grads } = await gs.run(w, tokenBatch(cfg, rows));
  await gs.dispose();
  expect(Math.abs(loss - torchLoss) / torchLoss).toBeLessThan(1e-5);
  let worst = 0;
  for (const s of paramSpecs(cfg)) {
    const a = grads.get(s.name)!,
      b = torchGrads.tensors.get(s.name)!.data;
    let num = 0,
      den = 0;
    for (let i = 0; i < a.length; i++) {
      num += (a[i]! - b[i]!) ** 2;
      den += b[i]! ** 2;
    }
    worst = Math.max(worst, Math.sqrt(num / den));
  }
  // Seen: 5.8e-7.
  expect(worst).toBeLessThan(1e-4);
});
