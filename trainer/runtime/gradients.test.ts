// The training graph's gradients against the float64 reference, and the reference against central finite
// differences, on cpu and on webgpu (lavapipe here).
import { afterAll, describe, expect, it } from 'vitest';
import { type ModelConfig, paramSpecs } from '../model/config.js';
import { initWeights, type Weights } from '../model/weights.js';
import { referenceLossAndGrads, toParams64 } from '../reference/gpt2-f64.js';
import { ForwardSession, GradientSession } from './model-session.js';
import { tokenBatch } from './tokens.js';
import type { Provider } from './provider.js';

// Tiny but complete: 2 layers, 2 heads, FFN not 4*C, T < n_positions (so wpe's gradient is padded).
const cfg: ModelConfig = { vocab_size: 61, n_positions: 12, n_embd: 16, n_layer: 2, n_head: 2, n_inner: 40, layer_norm_epsilon: 1e-5 };
const B = 2,
  T = 7;

/** GPT-2 init plus noise on every tensor (LN weights, biases) so no gradient path is trivially zero. */
function testWeights(): Weights {
  const w = initWeights(cfg, 7);
  const noise = initWeights({ ...cfg }, 99);
  for (const s of paramSpecs(cfg)) {
    const t = w.get(s.name)!;
    const n = noise.get(s.name)!;
    const wte = noise.get('wte.weight')!;
    for (let i = 0; i < t.length; i++) t[i] = t[i]! * 8 + (s.kind === 'matrix' || s.kind === 'embedding' ? n[i]! * 4 : wte[i]! * 10);
  }
  return w;
}

function rows(): number[][] {
  let x = 12345;
  const rnd = (): number => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) % cfg.vocab_size;
  return Array.from({ length: B }, () => Array.from({ length: T + 1 }, rnd));
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0,
    den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

const weights = testWeights();
const tokens = rows();
const ref = referenceLossAndGrads(cfg, toParams64(weights), tokens);

describe('float64 reference', () => {
  it('matches central finite differences on every tensor (relative error < 1e-5)', () => {
    const p64 = toParams64(weights);
    const h = 1e-5;
    let worst = 0;
    for (const s of paramSpecs(cfg)) {
      const t = p64.get(s.name)!;
      // A few coordinates per tensor, including the first and last.
      for (const i of [0, Math.floor(t.length / 3), t.length - 1]) {
        const orig = t[i]!;
        t[i] = orig + h;
        const lp = referenceLossAndGrads(cfg, p64, tokens).loss;
        t[i] = orig - h;
        const lm = referenceLossAndGrads(cfg, p64, tokens).loss;
        t[i] = orig;
        const fd = (lp - lm) / (2 * h);
        const an = ref.grads.get(s.name)![i]!;
        worst = Math.max(worst, Math.abs(fd - an) / Math.max(Math.abs(an), 1e-4));
      }
    }
    // Seen: 2.4e-6 (h = 1e-5; the error is the h^2 truncation term).
    expect(worst).toBeLessThan(1e-5);
  });
});

const sessions: { dispose(): Promise<void> }[] = [];
afterAll(async () => {
  for (const s of sessions) await s.dispose();
});

describe.each(['cpu', 'webgpu'] as Provider[])('training graph on %s', (provider) => {
  it('loss and every gradient match the float64 reference (relative error < 1e-4 per tensor)', async () => {
    const gs = await GradientSession.create(cfg, provider, B, T, { forbidCpuFallback: provider === 'webgpu' });
    sessions.push(gs);
    const { loss, grads } = await gs.run(weights, tokenBatch(cfg, tokens));
    expect(Math.abs(loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
    let worst = 0,
      worstName = '';
    for (const s of paramSpecs(cfg)) {
      const e = relErr(grads.get(s.name)!, ref.grads.get(s.name)!);
      if (e > worst) {
        worst = e;
        worstName = s.name;
      }
    }
    // float32 against float64, steep test weights: seen 2.9e-5 on cpu and 3.8e-5 on webgpu (h.0.ln_1.weight).
    expect(worst, `worst tensor ${worstName}`).toBeLessThan(1e-4);
  });

  // webgpu: float16 kernels. cpu: onnxruntime computes float16 products in float32, so the rounding is emulated in
  // float32 (what a coordinator recomputes a cuda miner's mixed-precision task with).
  const mixed = provider === 'cpu' ? 'fp16-emulated' : 'fp16';
  it(`mixed precision (${mixed}, loss scale 1024): at GPT-2 init the loss and every gradient match the float64 reference within 1e-2`, async () => {
    const gs = await GradientSession.create(cfg, provider, B, T, { forbidCpuFallback: provider === 'webgpu', precision: mixed });
    sessions.push(gs);
    // GPT-2's init, not the steep test weights: those make attention scores too large for float16's 11 bits (seen 24%
    // off on webgpu), as they would be for any float16 training.
    const w = initWeights(cfg, 7);
    const r = referenceLossAndGrads(cfg, toParams64(w), tokens);
    const { loss, grads } = await gs.run(w, tokenBatch(cfg, tokens), 1024);
    expect(Math.abs(loss - r.loss) / r.loss).toBeLessThan(1e-4);
    let worst = 0;
    for (const s of paramSpecs(cfg)) worst = Math.max(worst, relErr(grads.get(s.name)!, r.grads.get(s.name)!));
    // Seen: 2.5e-3 on webgpu, 2.4e-3 emulated on cpu (float16 keeps 11 significant bits); float32: 3e-5 (above).
    expect(worst).toBeLessThan(1e-2);
    expect(worst).toBeGreaterThan(3e-4); // the rounding happened: nothing optimised it away
  });

  it("the forward graph's loss agrees and a directional finite difference matches grad·d (relative error < 1e-2)", async () => {
    const fs = new ForwardSession(cfg, provider);
    sessions.push(fs);
    const batch = tokenBatch(cfg, tokens);
    await fs.setWeights(weights);
    expect(Math.abs((await fs.loss(batch)) - ref.loss) / ref.loss).toBeLessThan(1e-5);
    // d: a fixed pseudo-random unit direction over all parameters; a step of 1e-3 along it in float32 (the test weights make the loss steep).
    const dir = new Map([...weights].map(([k, v]) => [k, v.map((_, i) => Math.sin(i * 12.9898 + k.length))]));
    const norm = Math.sqrt([...dir.values()].reduce((a, d) => a + d.reduce((x, y) => x + y * y, 0), 0));
    const eps = 1e-3 / norm;
    const shifted = (sign: number): Weights =>
      new Map([...weights].map(([k, v]) => [k, v.map((x, i) => x + sign * eps * dir.get(k)![i]!)]));
    let gd = 0;
    for (const [k, g] of ref.grads) g.forEach((gi, i) => (gd += gi * dir.get(k)![i]!));
    await fs.setWeights(shifted(1));
    const lp = await fs.loss(batch);
    await fs.setWeights(shifted(-1));
    const lm = await fs.loss(batch);
    // Seen: 6e-4 on cpu, 9e-4 on webgpu.
    expect(Math.abs((lp - lm) / (2 * eps) - gd) / Math.abs(gd)).toBeLessThan(1e-2);
  });
});
