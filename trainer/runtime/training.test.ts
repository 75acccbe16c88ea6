// The AdamW graph against a JavaScript AdamW, and the train steps (fused on cpu and webgpu, state kept on the device
// there; layer-wise on cpu, checkpointed with AdamW in place) against the gradient graph and a float64 AdamW.
import { afterAll, describe, expect, it } from 'vitest';
import { type ModelConfig, paramSpecs } from '../model/config.js';
import { initWeights, weightDelta, type Weights } from '../model/weights.js';
import { trainTask } from '../federated/train-task.js';
import { buildOptimizerGraph, decays, DEFAULT_ADAMW } from '../onnx/graphs.js';
import { GradientSession, nodeRuntime, openTrainSession } from './model-session.js';
import { TrainSession, type FusedTrainSession, type TrainingRuntime, type TrainSessionShape } from './train-session.js';
import type { Provider } from './provider.js';
import { createSession, ort } from './session.js';
import { tokenBatch } from './tokens.js';

const cfg: ModelConfig = { vocab_size: 53, n_positions: 16, n_embd: 16, n_layer: 2, n_head: 4, n_inner: 32, layer_norm_epsilon: 1e-5 };
const specs = paramSpecs(cfg);
const B = 2,
  T = 16;
const opt = { ...DEFAULT_ADAMW, clipNorm: 0.5 };
const rows = (k: number): number[][] =>
  Array.from({ length: B }, (_, b) => Array.from({ length: T + 1 }, (_, i) => (i * (b + 2) + k * 7) % 53));

/** The textbook AdamW step, float64, with global-norm clipping. */
function adamw(
  p: Weights,
  g: Weights,
  m: Weights,
  v: Weights,
  lr: number,
  step: number,
): { p: Weights; m: Weights; v: Weights; norm: number } {
  let sq = 0;
  for (const t of g.values()) for (const x of t) sq += x * x;
  const norm = Math.sqrt(sq);
  const clip = Math.min(1, opt.clipNorm / (norm + 1e-6));
  const P: Weights = new Map(),
    M: Weights = new Map(),
    V: Weights = new Map();
  for (const s of specs) {
    const pp = p.get(s.name)!,
      gg = g.get(s.name)!,
      mm = m.get(s.name)!,
      vv = v.get(s.name)!;
    const np = new Float32Array(pp.length),
      nm = new Float32Array(pp.length),
      nv = new Float32Array(pp.length);
    for (let i = 0; i < pp.length; i++) {
      const gi = gg[i]! * clip;
      nm[i] = opt.beta1 * mm[i]! + (1 - opt.beta1) * gi;
      nv[i] = opt.beta2 * vv[i]! + (1 - opt.beta2) * gi * gi;
      const mhat = nm[i]! / (1 - opt.beta1 ** step),
        vhat = nv[i]! / (1 - opt.beta2 ** step);
      const decayed = decays(s) ? pp[i]! * (1 - lr * opt.weightDecay) : pp[i]!;
      np[i] = decayed - (lr * mhat) / (Math.sqrt(vhat) + opt.eps);
    }
    P.set(s.name, np);
    M.set(s.name, nm);
    V.set(s.name, nv);
  }
  return { p: P, m: M, v: V, norm };
}

function maxRel(a: Weights, b: Weights): number {
  let worst = 0;
  for (const [k, x] of a) {
    const y = b.get(k)!;
    let num = 0,
      den = 0;
    for (let i = 0; i < x.length; i++) {
      num += (x[i]! - y[i]!) ** 2;
      den += y[i]! ** 2;
    }
    worst = Math.max(worst, Math.sqrt(num / Math.max(den, 1e-30)));
  }
  return worst;
}

const closers: { dispose(): Promise<void> }[] = [];
afterAll(async () => {
  for (const c of closers) await c.dispose();
});

describe('AdamW graph', () => {
  it('matches a float64 AdamW step with clipping and decoupled weight decay (relative error < 1e-5)', async () => {
    const p = initWeights(cfg, 1),
      g = initWeights(cfg, 2),
      m = initWeights(cfg, 3);
    const v: Weights = new Map([...initWeights(cfg, 4)].map(([k, t]) => [k, t.map((x) => x * x)]));
    const session = await createSession(buildOptimizerGraph(cfg, opt).bytes, 'cpu');
    const feeds: Record<string, ort.Tensor> = {
      lr: new ort.Tensor('float32', Float32Array.of(0.01), []),
      step: new ort.Tensor('float32', Float32Array.of(3), []),
    };
    for (const s of specs) {
      feeds[s.name] = new ort.Tensor('float32', p.get(s.name)!, s.shape);
      feeds[`grad.${s.name}`] = new ort.Tensor('float32', g.get(s.name)!, s.shape);
      feeds[`m.${s.name}`] = new ort.Tensor('float32', m.get(s.name)!, s.shape);
      feeds[`v.${s.name}`] = new ort.Tensor('float32', v.get(s.name)!, s.shape);
    }
    const out = await session.run(feeds);
    const want = adamw(p, g, m, v, 0.01, 3);
    expect(want.norm).toBeGreaterThan(opt.clipNorm); // so clipping is exercised
    expect(Math.abs((out.grad_norm!.data as Float32Array)[0]! - want.norm) / want.norm).toBeLessThan(1e-5);
    const pick = (prefix: string): Weights => new Map(specs.map((s) => [s.name, out[`${prefix}${s.name}`]!.data as Float32Array]));
    expect(maxRel(pick('new.'), want.p)).toBeLessThan(1e-5);
    expect(maxRel(pick('new_m.'), want.m)).toBeLessThan(1e-5);
    expect(maxRel(pick('new_v.'), want.v)).toBeLessThan(1e-5);
    await session.release();
  });
});

/**
 * Three steps of `train` (lr 0.01) beside the reference, the gradient graph and the float64 AdamW on the same batches,
 * the reference taking its gradients at its own weights; `check` sees each step's result, the reference loss and
 * gradient norm. Returns the reference's weights.
 */
async function besideReference(
  train: { step: (b: ReturnType<typeof tokenBatch>, lr: number) => Promise<{ loss: number; gradNorm: number }> },
  w0: Weights,
  check?: (r: { loss: number; gradNorm: number }, loss: number, norm: number) => void,
): Promise<Weights> {
  const grad = await GradientSession.create(cfg, 'cpu', B, T);
  closers.push(grad);
  let p = w0;
  let m: Weights = new Map(specs.map((s) => [s.name, new Float32Array(p.get(s.name)!.length)]));
  let v: Weights = new Map(specs.map((s) => [s.name, new Float32Array(p.get(s.name)!.length)]));
  for (let k = 1; k <= 3; k++) {
    const batch = tokenBatch(cfg, rows(k));
    const { loss, grads } = await grad.run(p, batch);
    const r = await train.step(batch, 0.01);
    let norm: number;
    ({ p, m, v, norm } = adamw(p, grads, m, v, 0.01, k));
    check?.(r, loss, norm);
  }
  return p;
}

describe.each([
  ['fused', 'cpu'],
  ['fused', 'webgpu'],
  ['layerwise', 'cpu'],
] as const)('%s train step on %s', (layout, provider: Provider) => {
  it('three steps equal gradient graph + JavaScript AdamW (relative error < 1e-4), state kept between steps', async () => {
    const w0 = initWeights(cfg, 11);
    const train = await openTrainSession(cfg, provider, {
      batch: B,
      seq: T,
      adamw: opt,
      layerwise: layout === 'layerwise',
      weights: w0,
      forbidCpuFallback: provider === 'webgpu',
    });
    expect(train.layout).toBe(layout);
    closers.push(train);
    const p = await besideReference(train, w0, (r, loss, norm) => {
      expect(Math.abs(r.loss - loss) / loss).toBeLessThan(1e-5);
      expect(Math.abs(r.gradNorm - norm) / norm).toBeLessThan(1e-4);
    });
    expect(train.steps).toBe(3);
    expect(maxRel(await train.weights(), p)).toBeLessThan(1e-4);
  });

  it("a task's update is its trained weights less the start, and the session keeps none of it after", async () => {
    const w0 = initWeights(cfg, 12);
    const train = await openTrainSession(cfg, provider, { batch: B, seq: T, layerwise: layout === 'layerwise', weights: w0 });
    closers.push(train);
    const task = { steps: 2, batchSize: B, seqLen: T, lr: 1e-2 };
    const tokens = Uint16Array.from([...rows(1), ...rows(2)].flat());
    const trained = await openTrainSession(cfg, provider, { batch: B, seq: T, layerwise: layout === 'layerwise', weights: w0 });
    closers.push(trained);
    for (let s = 0; s < 2; s++) await trained.step(tokenBatch(cfg, rows(s + 1)), task.lr);
    const want = weightDelta(w0, await trained.weights());
    const { update } = (await trainTask(train, w0, tokens, task))!;
    expect(maxRel(update, want)).toBeLessThan(1e-6);
    expect(w0.get('wte.weight')).toEqual(initWeights(cfg, 12).get('wte.weight')); // the start weights are unchanged
    // The parameters were handed over with the moments: a step needs start() again.
    await expect(train.step(tokenBatch(cfg, rows(3)), task.lr)).rejects.toThrow();
    // A task of no steps (a node may send one) is refused: it would hand back the start weights to subtract in place.
    await expect(trainTask(train, w0, new Uint16Array(0), { ...task, steps: 0 })).rejects.toThrow(/at least one step/);
    expect(w0.get('wte.weight')).toEqual(initWeights(cfg, 12).get('wte.weight'));
  });
});

// On webgpu, whose float16 kernels run here (lavapipe). Its products sum in float16, which is why the miner allows fp16
// on cuda only; on this test's small widths the sums are short, and the graph and the loss scaling are what is checked.
describe('mixed precision (fused, webgpu: float16 products, float32 weights and AdamW, dynamic loss scaling)', () => {
  const w0 = initWeights(cfg, 11);
  const open = async (): Promise<FusedTrainSession> => {
    const s = await openTrainSession(cfg, 'webgpu', {
      batch: B,
      seq: T,
      adamw: opt,
      precision: 'fp16',
      weights: w0,
      forbidCpuFallback: true,
    });
    closers.push(s);
    return s as FusedTrainSession;
  };

  it('three steps move the weights as float64 AdamW does: the update within 5% (relative L2)', async () => {
    const train = await open();
    expect(train.precision).toBe('fp16');
    const p = await besideReference(train, w0, (r, loss, norm) => {
      expect(Math.abs(r.loss - loss) / loss).toBeLessThan(1e-3);
      expect(Math.abs(r.gradNorm - norm) / norm).toBeLessThan(1e-2);
    });
    // Seen: 2.5% (float16 rounding of small gradients changes their AdamW steps; 8-bit moments: about 2%).
    expect(updateDistance(await train.weights(), p, w0)).toBeLessThan(0.05);
  });

  it('a step whose scaled gradients overflow float16 changes nothing and runs again at half the scale', async () => {
    const sane = await open();
    const huge = await open();
    huge.lossScale = 2 ** 40; // scaled gradients far past float16's 65504
    for (let k = 1; k <= 2; k++) {
      const a = await sane.step(tokenBatch(cfg, rows(k)), 0.01);
      const b = await huge.step(tokenBatch(cfg, rows(k)), 0.01);
      expect(Number.isFinite(b.gradNorm)).toBe(true);
      expect(Math.abs(a.gradNorm - b.gradNorm) / a.gradNorm).toBeLessThan(1e-3);
    }
    expect(sane.overflows).toBe(0);
    expect(huge.overflows).toBeGreaterThan(0);
    expect(huge.lossScale).toBeLessThan(2 ** 40);
    expect(huge.steps).toBe(2);
    // The overflowed runs left weights and moments as they were: both sessions took the same two AdamW steps.
    expect(maxRel(await huge.weights(), await sane.weights())).toBeLessThan(1e-4);
  });
});

// A fused session in a Loop (what a cuda miner trains with: its state stays on the device through a task's steps in
// one run) against the one-step graph run step after step, which the tests above check against float64 AdamW.
describe('fused train steps in an ONNX Loop (one run, the state loop-carried)', () => {
  const w0 = initWeights(cfg, 13);
  const batches = [1, 2, 3, 4, 5].map((k) => tokenBatch(cfg, rows(k)));
  /** A cpu runtime that counts its sessions' runs, and says it is `provider` (so the default is the provider's). */
  /**
   * A cpu runtime that counts its sessions' runs, says it is `provider` (so the default is the provider's), and with
   * `loopFails`, fails the Loop graph's first run with that error (as cuda's arena does when the device is full).
   */
  const counted = (provider: Provider, loopFails?: Error, stepGraphFails?: Error): { runtime: TrainingRuntime; runs: () => number } => {
    const inner = nodeRuntime('cpu');
    let runs = 0;
    let failed = false;
    const runtime: TrainingRuntime = {
      ...inner,
      device: { provider },
      createSession: async (graph, deviceOutputs, opts) => {
        const isLoop = graph.opTypes.includes('Loop');
        if (!isLoop && stepGraphFails) throw stepGraphFails;
        const session = await inner.createSession(graph, deviceOutputs, opts);
        const run = session.run.bind(session);
        session.run = ((...args: Parameters<typeof run>) => {
          if (isLoop && loopFails && !failed) {
            failed = true;
            return Promise.reject(loopFails);
          }
          runs++;
          return run(...args);
        }) as typeof session.run;
        return session;
      },
    };
    return { runtime, runs: () => runs };
  };
  const open = async (shape: Partial<TrainSessionShape>, provider: Provider = 'cpu', loopFails?: Error, stepGraphFails?: Error) => {
    const c = counted(provider, loopFails, stepGraphFails);
    const session = (await TrainSession.open(c.runtime, cfg, { batch: B, seq: T, adamw: opt, ...shape })) as FusedTrainSession;
    closers.push(session);
    await session.start(w0);
    return { session, runs: c.runs };
  };
  const sameWeights = async (a: TrainSession, b: TrainSession): Promise<void> => {
    const [wa, wb] = [await a.weights(), await b.weights()];
    for (const s of specs) expect(wa.get(s.name), s.name).toEqual(wb.get(s.name));
  };

  it('is what a cuda session opens; five steps in one run equal five runs of the one-step graph, bit for bit', async () => {
    const loop = await open({}, 'cuda');
    expect([loop.session.loop, loop.session.stepsPerRun]).toEqual([true, Number.POSITIVE_INFINITY]);
    const plain = await open({});
    expect([plain.session.loop, plain.session.stepsPerRun]).toEqual([false, 1]);
    const rates = [0.01, 0.02, 0.005, 0.01, 0.03];
    const a = await loop.session.stepMany(batches, rates);
    const b = await plain.session.stepMany(batches, rates);
    expect([loop.runs(), plain.runs()]).toEqual([1, 5]);
    expect(a).toEqual(b);
    expect([loop.session.steps, plain.session.steps]).toEqual([5, 5]);
    await sameWeights(loop.session, plain.session);
    // step() is a run of one; the AdamW step count carries over from one run to the next (its bias correction).
    expect(await loop.session.step(batches[0]!, 0.01)).toEqual(await plain.session.step(batches[0]!, 0.01));
    expect(loop.session.steps).toBe(6);
    await sameWeights(loop.session, plain.session);
    await expect(
      loop.session.stepMany(
        [
          tokenBatch(
            cfg,
            rows(1).map((r) => r.slice(0, 9)),
          ),
        ],
        0.01,
      ),
    ).rejects.toThrow(/batches of 2x16, got 2x8/);
  });

  it("trains a miner's task in one run, to the same update", async () => {
    const task = { steps: 4, batchSize: B, seqLen: T, lr: 1e-2 };
    const tokens = Uint16Array.from([1, 2, 3, 4].flatMap((k) => rows(k).flat()));
    const loop = await open({ loop: true });
    const plain = await open({});
    const seen: { step: number; ms: number }[] = [];
    const a = (await trainTask(loop.session, w0, tokens, task, { onStep: ({ step, ms }) => void seen.push({ step, ms }) }))!;
    const b = (await trainTask(plain.session, w0, tokens, task))!;
    // Each step reported after the run, with an even share of its time (what a miner's duty cycle rests by).
    expect(seen.map((r) => r.step)).toEqual([1, 2, 3, 4]);
    expect(seen[0]!.ms).toBeGreaterThan(0);
    expect(new Set(seen.map((r) => r.ms)).size).toBe(1);
    expect([loop.runs(), plain.runs()]).toEqual([1, 4]);
    expect(a.losses).toEqual(b.losses);
    for (const s of specs) expect(a.update.get(s.name), s.name).toEqual(b.update.get(s.name));
  });

  // The loop's loss scaling is the graph's own (buildTrainingLoopGraph); the session's is JavaScript (step). Scales past
  // 2^64 overflow the gradient norm's float32 sum of squares, which is an overflow by the same rule on the cpu.
  it.each([
    ['retries, then growth every 2 good steps', { init: 2 ** 72, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2, min: 1 }],
    [
      'steps overflowing at the smallest scale, reported as diverged',
      { init: 2 ** 72, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000, min: 2 ** 68 },
    ],
    [
      'a smallest scale that float32 rounds up (2^68 - 2^40 is 2^68 there: the scale reaches it)',
      { init: 2 ** 72, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000, min: 2 ** 68 - 2 ** 40 },
    ],
    [
      'factors that are not powers of two (the scale kept in float32 both ways)',
      { init: 1e22, growthFactor: 3, backoffFactor: 0.3, growthInterval: 2, min: 1 },
    ],
  ])('mixed precision: the same loss scaling as step after step: %s', async (_, lossScaling) => {
    const loop = await open({ loop: true, precision: 'fp16', lossScaling });
    const plain = await open({ precision: 'fp16', lossScaling });
    const a = await loop.session.stepMany(batches, 0.01);
    const b = await plain.session.stepMany(batches, 0.01);
    expect(a).toEqual(b);
    expect(loop.session.overflows).toBeGreaterThan(0);
    const state = (s: FusedTrainSession) => [s.steps, s.lossScale, s.overflows];
    expect(state(loop.session)).toEqual(state(plain.session));
    await sameWeights(loop.session, plain.session);
    if (lossScaling.min > 1) expect(a.every((r) => Number.isNaN(r.loss))).toBe(true);
    else expect(a.every((r) => Number.isFinite(r.loss))).toBe(true);
  });

  it('refuses a loss scaling policy that would never end or never scale, and the Loop on webgpu, saying why', async () => {
    const base = { init: 2 ** 16, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000, min: 1 };
    for (const [bad, why] of [
      [{ min: 0 }, /min must be a finite float32 above 0/],
      [{ backoffFactor: 1 }, /backoffFactor must be between 0 and 1 in float32/],
      [{ growthFactor: 0.5 }, /growthFactor must be a finite float32, at least 1/],
      [{ growthInterval: 0 }, /growthInterval must be a whole number/],
      [{ init: 0.5 }, /init must be a finite float32, at least min/],
      [{ init: 1e39 }, /init must be a finite float32/],
      [{ backoffFactor: 1 - 1e-9 }, /backoffFactor must be between 0 and 1 in float32/],
      [{ growthFactor: 1e39 }, /growthFactor must be a finite float32/],
    ] as const)
      await expect(
        TrainSession.open(nodeRuntime('cpu'), cfg, { batch: B, seq: T, precision: 'fp16', lossScaling: { ...base, ...bad } }),
      ).rejects.toThrow(why);
    await expect(TrainSession.open(nodeRuntime('webgpu'), cfg, { batch: B, seq: T, loop: true })).rejects.toThrow(
      /the training Loop is for cuda \(and the cpu\), not webgpu/,
    );
  });

  it("runs a task's steps in runs of about hooks.runMs, stopping between runs; the first run takes one step", async () => {
    const task = { steps: 4, batchSize: B, seqLen: T, lr: 1e-2 };
    const tokens = Uint16Array.from([1, 2, 3, 4].flatMap((k) => rows(k).flat()));
    const plain = await open({});
    const want = (await trainTask(plain.session, w0, tokens, task))!;
    // A long run: one step to measure, then the three left in one run.
    const long = await open({ loop: true });
    const a = (await trainTask(long.session, w0, tokens, task, { runMs: 1e9 }))!;
    expect(long.runs()).toBe(2);
    // The session's last run is remembered: the next task starts at its pace, in one run.
    await trainTask(long.session, w0, tokens, task, { runMs: 1e9 });
    expect(long.runs()).toBe(3);
    // A run shorter than a step: a step a run.
    const short = await open({ loop: true });
    const b = (await trainTask(short.session, w0, tokens, task, { runMs: 1e-6 }))!;
    expect(short.runs()).toBe(4);
    for (const r of [a, b]) {
      expect(r.losses).toEqual(want.losses);
      for (const s of specs) expect(r.update.get(s.name), s.name).toEqual(want.update.get(s.name));
    }
    // Stopped after the first step: the second run never starts.
    const stopped = await open({ loop: true });
    let steps = 0;
    const none = await trainTask(stopped.session, w0, tokens, task, {
      runMs: 1e9,
      onStep: () => void steps++,
      shouldStop: () => steps >= 1,
    });
    expect([none, steps, stopped.runs()]).toEqual([undefined, 1, 1]);
  });

  it('leaves the Loop for a step a run when the device runs out of memory in it, and trains the same; other errors are thrown', async () => {
    const oom = new Error(
      "Non-zero status code returned while running Loop node. Name:'n_Loop_0' Status Message: Failed to allocate memory for requested buffer of size 4096",
    );
    const loop = await open({ loop: true }, 'cuda', oom);
    const plain = await open({});
    expect(await loop.session.stepMany(batches, 0.01)).toEqual(await plain.session.stepMany(batches, 0.01));
    expect([loop.session.loop, loop.session.stepsPerRun, loop.session.loopFellBack]).toEqual([false, 1, oom.message]);
    expect(loop.runs()).toBe(5);
    await sameWeights(loop.session, plain.session);
    const broken = await open({ loop: true }, 'cuda', new Error('CUDA failure 700: an illegal memory access was encountered'));
    await expect(broken.session.stepMany(batches, 0.01)).rejects.toThrow(/illegal memory access/);
    expect(broken.session.loop).toBe(true);
    // The one-step graph failing to open as well: the error is thrown, later steps say the session has no graph, and
    // it still disposes.
    const lost = await open(
      { loop: true },
      'cuda',
      new Error('CUBLAS_STATUS_ALLOC_FAILED'),
      new Error('no memory for the one-step graph either'),
    );
    await expect(lost.session.stepMany(batches, 0.01)).rejects.toThrow(/no memory for the one-step graph either/);
    await expect(lost.session.step(batches[0]!, 0.01)).rejects.toThrow(
      /has no graph \(its Loop ran out of device memory: CUBLAS_STATUS_ALLOC_FAILED\)/,
    );
    await lost.session.dispose();
  });
});

/** The relative L2 distance of `got`'s update from `want`'s (both from `w0`). */
function updateDistance(got: Weights, want: Weights, w0: Weights): number {
  let num = 0,
    den = 0;
  for (const s of specs) {
    const a = got.get(s.name)!,
      b = want.get(s.name)!,
      o = w0.get(s.name)!;
    for (let j = 0; j < a.length; j++) {
      num += (a[j]! - b[j]!) ** 2;
      den += (b[j]! - o[j]!) ** 2;
    }
  }
  return Math.sqrt(num / den);
}

describe('layer-wise train step with 8-bit AdamW moments', () => {
  it('three steps move the weights as float64 AdamW does: the update within 5% (relative L2), cosine above 0.998', async () => {
    const w0 = initWeights(cfg, 11);
    const train = await openTrainSession(cfg, 'cpu', { batch: B, seq: T, adamw: opt, layerwise: true, moments: 'int8', weights: w0 });
    closers.push(train);
    const p = await besideReference(train, w0);
    const got = await train.weights();
    let dot = 0,
      nGot = 0,
      nWant = 0;
    for (const s of specs) {
      const a = got.get(s.name)!,
        b = p.get(s.name)!,
        o = w0.get(s.name)!;
      for (let j = 0; j < a.length; j++) {
        const du = a[j]! - o[j]!,
          dw = b[j]! - o[j]!;
        dot += du * dw;
        nGot += du * du;
        nWant += dw * dw;
      }
    }
    expect(updateDistance(got, p, w0)).toBeLessThan(0.05);
    expect(dot / Math.sqrt(nGot * nWant)).toBeGreaterThan(0.998);
  });
});
