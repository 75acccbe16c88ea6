/**
 * What a training step holds in host memory, computed from the config, for each training layout: the plan a miner
 * checks its machine against and chooses its settings by (`chooseTrainingSettings`). Bytes above what the process
 * held before the model (a CPU session of onnxruntime-node; the browser's WASM heap follows the same terms). Each
 * term is what the code keeps alive at the step's peak, as measured (`npm run bench -- trainer` prints plan and
 * measured peak side by side):
 * - fused: the task's start weights (kept by the caller for the update) and the session's current ones; the AdamW
 *   moments; inside the run, the gradients and the new parameters and moments in onnxruntime's memory, and again as
 *   the host copies onnxruntime-node returns; every layer's saved activations; two [N, V] tensors of the head (the
 *   slope of ailo-tiny's measured peaks in the token count; three were counted before, which overestimated).
 * - layer-wise: start and current weights, the moments (float32, or 8-bit with a float32 maximum per 2048 values),
 *   all gradients (global-norm clipping needs them all); the n_layer + 1 block inputs; then the larger of one block's
 *   recomputed activations with its gradients (and their host copies), and the head's [N, V] tensor with the tied
 *   head's [V, C] gradient (and its host copy).
 * - either: what onnxruntime holds whatever the shape (RUNTIME_BYTES).
 */
import { TrainerError, TrainerErrorCode } from '../errors.js';
import type { Precision } from '../onnx/graphs.js';
import { type ModelConfig, numel, paramCount, paramSpecs } from './config.js';

export type TrainLayout = 'fused' | 'layerwise';
export type MomentFormat = 'float32' | 'int8';

export interface TrainingSettings {
  layout: TrainLayout;
  /** The AdamW moments' storage (int8 only with the layer-wise layout). */
  moments: MomentFormat;
  /** fp16: mixed precision, fused on a GPU provider only (absent: fp32). */
  precision?: Precision;
}

export interface MemoryPlan extends TrainingSettings {
  params: number;
  /** Bytes per category. The start weights and the session's current weights. */
  weights: number;
  gradients: number;
  adamMoments: number;
  /** Fused: the new parameters and moments, in onnxruntime's memory and as host copies. 0 layer-wise. */
  updatedState: number;
  /** Fused: every layer's saved activations. Layer-wise: the block inputs kept, plus one block's recomputed working set. */
  activations: number;
  /** The vocabulary head's working set at its peak. */
  head: number;
  /** What onnxruntime holds whatever the shape (RUNTIME_BYTES). */
  runtime: number;
  total: number;
}

/** Values per block of the 8-bit moments (quantized-moments.ts; bitsandbytes uses 2048 for its block-wise optimizers). */
export const QUANT_BLOCK = 2048;

export function trainingMemoryPlan(
  cfg: ModelConfig,
  batch: number,
  seq: number,
  settings: TrainingSettings = { layout: 'fused', moments: 'float32' },
): MemoryPlan {
  if (settings.moments === 'int8' && settings.layout !== 'layerwise')
    throw new RangeError('8-bit moments are kept by the layer-wise layout only');
  if (settings.precision && settings.precision !== 'fp32' && settings.layout !== 'fused')
    throw new RangeError('mixed precision is trained by the fused layout only');
  const P = paramCount(cfg);
  const N = batch * seq,
    C = cfg.n_embd,
    F = cfg.n_inner,
    H = cfg.n_head,
    V = cfg.vocab_size,
    L = cfg.n_layer;
  // One block's saved activations: x, ln1 (xhat, y), q/k/v, o, x1, ln2 (xhat, y) = 10 [N, C]; f, tanh(f), gelu(f) = 3
  // [N, F]; two rstd vectors; the attention probabilities [B, H, T, T].
  const perLayer = 4 * (N * (10 * C + 3 * F + 2) + batch * H * seq * seq);
  const base = { ...settings, params: P, weights: 8 * P, gradients: 4 * P };
  if (settings.layout === 'fused') {
    const activations = L * perLayer + 4 * 3 * N * C;
    // float16 rounding emulated in float32 (a coordinator's recomputation of a mixed-precision task): rounded copies of
    // the weights and of each product's operands and result; fitted to the measured peaks of ailo-tiny 8x64 (-2.5%)
    // and ailo-small 4x128 (+7%).
    const emulation = settings.precision === 'fp16-emulated' ? 8 * P + activations + 18 * N * V : 0;
    const plan = {
      ...base,
      adamMoments: 8 * P,
      updatedState: 24 * P,
      activations: activations + emulation,
      head: 2 * 4 * N * V,
      runtime: RUNTIME_BYTES,
      total: 0,
    };
    plan.total = plan.weights + plan.gradients + plan.adamMoments + plan.updatedState + plan.activations + plan.head + plan.runtime;
    return plan;
  }
  const adamMoments = settings.moments === 'int8' ? 2 * P + 2 * 4 * Math.ceil(P / QUANT_BLOCK) : 8 * P;
  const blockParams = paramSpecs(cfg)
    .filter((s) => s.name.startsWith('h.0.'))
    .reduce((n, s) => n + numel(s.shape), 0);
  const checkpoints = (L + 1) * 4 * N * C;
  const blockWorking = perLayer + 2 * 4 * blockParams;
  // The head at its peak: one [N, V] tensor (measured: ailo-tiny's layer-wise peak grows by one [N, V] a token row from
  // 8x32 to 8x128, not two), the tied head's [V, C] gradient and its host copy.
  const head = 4 * N * V + 2 * 4 * V * C;
  const plan = {
    ...base,
    adamMoments,
    updatedState: 0,
    activations: checkpoints + blockWorking,
    head,
    runtime: RUNTIME_BYTES,
    total: 0,
  };
  plan.total = plan.weights + plan.gradients + plan.adamMoments + checkpoints + Math.max(blockWorking, head) + plan.runtime;
  return plan;
}

/**
 * What onnxruntime holds whatever the shape, bytes (its kernels, thread pools and the arenas' first chunks): the
 * measured peaks of ailo-tiny lie on lines in the token count whose intercepts are 104 MiB (layer-wise: 244, 289 and
 * 398 MiB at 8x32, 8x64 and 8x128) and 108 MiB (fused: 303 and 682 MiB at 4x32 and 8x128) above the terms below.
 * A small shape's peak moves from run to run with V8's collections (ailo-tiny 4x32 layer-wise: 169 to 220 MiB), so the
 * figure is set a little below both intercepts.
 */
const RUNTIME_BYTES = 96 * 2 ** 20;

/** The settings to try, fastest first. */
export const SETTINGS_BY_SPEED: readonly TrainingSettings[] = [
  { layout: 'fused', moments: 'float32' },
  { layout: 'layerwise', moments: 'float32' },
  { layout: 'layerwise', moments: 'int8' },
];

/**
 * The share of a plan kept free above it when settings are chosen. A plan is within 15% of the measured peak
 * (memory-plan.test.ts), on either side; a shape's peak moves between runs with V8's collections; and the
 * process held memory before the model (Node, the miner's own state). ailo-1b's layer-wise plan of 15.97 GiB for 2x64
 * tokens, chosen under `ailo-miner --memory 16` with 0.03 GiB to spare, peaked at 16.49 GiB through the miner
 * (`npm run bench -- ailo-1b`). So settings are chosen only where the plan with this share added fits.
 */
export const PLAN_HEADROOM = 0.15;

/** The memory a plan needs to be chosen, bytes: its total with PLAN_HEADROOM added. */
export function memoryNeeded(plan: MemoryPlan): number {
  return Math.ceil(plan.total * (1 + PLAN_HEADROOM));
}

/**
 * The fastest settings whose plan fits `budgetBytes` (free host memory, or what the operator allows) with
 * PLAN_HEADROOM to spare, with the plan; or, when none fits, `fits: false` with the smallest plan, to say how much is
 * missing (`memoryNeeded`).
 */
export function chooseTrainingSettings(
  cfg: ModelConfig,
  batch: number,
  seq: number,
  budgetBytes: number,
  /** Only settings with these moments (a recomputation keeps the format the miner trained with). */
  moments?: MomentFormat,
): { fits: true; plan: MemoryPlan } | { fits: false; smallest: MemoryPlan } {
  const plans = SETTINGS_BY_SPEED.filter((s) => !moments || s.moments === moments).map((s) => trainingMemoryPlan(cfg, batch, seq, s));
  const plan = plans.find((p) => memoryNeeded(p) <= budgetBytes);
  if (plan) return { fits: true, plan };
  return { fits: false, smallest: plans.reduce((a, b) => (b.total < a.total ? b : a)) };
}

/**
 * The training settings for a task on `provider`: on the CPU the fastest whose memory plan fits `budgetBytes` with
 * PLAN_HEADROOM to spare (what the OS reports available, or what the operator allows), only among those with `moments`
 * when given; on a GPU provider,
 * fused (its state stays on the device), in mixed precision when `precision` is fp16. Throws a TrainerError
 * OUT_OF_MEMORY naming what the task needs when nothing fits, BAD_ARGUMENT for fp16 on the CPU. What the miner trains
 * with, and what a coordinator trains its reference tasks and recomputations with.
 */
export function settingsFor(
  cfg: ModelConfig,
  shape: { batchSize: number; seqLen: number },
  provider: string,
  budgetBytes: number,
  moments?: MomentFormat,
  precision: Precision = 'fp32',
): { settings: TrainingSettings; why: string } {
  if (precision === 'fp16' && provider !== 'cuda')
    throw new TrainerError(
      TrainerErrorCode.BAD_ARGUMENT,
      `mixed precision (fp16) is for cuda only: ${FP16_ELSEWHERE[provider] ?? `not on ${provider}`}`,
    );
  if (provider !== 'cpu') {
    const mixed = precision === 'fp16' ? ', in mixed precision (float16 products, float32 weights, dynamic loss scaling)' : '';
    return {
      settings: { layout: 'fused', moments: 'float32', precision },
      why: `fused: ${provider} keeps its state on the device${mixed}`,
    };
  }
  if (precision === 'fp16-emulated' && moments !== 'int8') {
    // A coordinator's recomputation of a cuda miner's mixed-precision task, where the fused layout fits; layer-wise
    // graphs have no float16 emulation, and float32 is within about 1% of it (measured on the devnet task).
    const plan = trainingMemoryPlan(cfg, shape.batchSize, shape.seqLen, { layout: 'fused', moments: 'float32', precision });
    if (memoryNeeded(plan) <= budgetBytes)
      return { settings: plan, why: `fused, float16 rounding emulated: planned at ${formatBytes(plan.total)}` };
  }
  const choice = chooseTrainingSettings(cfg, shape.batchSize, shape.seqLen, budgetBytes, moments);
  const task = `a task of ${shape.batchSize}x${shape.seqLen} tokens on this model (${paramCount(cfg).toLocaleString('en-US')} parameters)`;
  if (!choice.fits)
    throw new TrainerError(
      TrainerErrorCode.OUT_OF_MEMORY,
      `${task} needs at least ${formatBytes(memoryNeeded(choice.smallest))} of memory (${settingsName(choice.smallest)}: planned at ${formatBytes(choice.smallest.total)}, with ${PLAN_HEADROOM * 100}% kept free for the plan's error), and ${formatBytes(budgetBytes)} is available; ` +
        "close other programs, allow more (ailo-miner --memory GIB; a coordinator's round setting trainMemoryGiB), or train on a machine with more memory or a GPU",
    );
  return {
    settings: choice.plan,
    why: `${settingsName(choice.plan)}: ${task} is planned at ${formatBytes(choice.plan.total)} of the ${formatBytes(budgetBytes)} available`,
  };
}

/**
 * Why mixed precision is refused on a provider. WebGPU: onnxruntime's float16 MatMul and Gemm sum in float16 (measured
 * here: 4,096 ones sum to 2,048), which moved an ailo-tiny task's update 92% from float32 training, where mixed
 * precision as PyTorch's AMP does it sums in float32 (onnxruntime's cuda provider does by default: cuBLAS's
 * CUBLAS_COMPUTE_32F).
 */
const FP16_ELSEWHERE: Record<string, string> = {
  cpu: "onnxruntime's CPU provider computes float16 products in float32, so it would gain nothing; train in fp32 on the CPU",
  webgpu:
    "onnxruntime's WebGPU provider sums float16 products in float16 (4,096 ones sum to 2,048), which moved a task's update 92% from float32 training, past any recomputation's tolerance; train in fp32 on webgpu",
  wasm: 'the browser trains in fp32',
};

/** "fused", "layer-wise" or "layer-wise, 8-bit moments". */
export function settingsName(s: TrainingSettings): string {
  return s.layout === 'fused' ? 'fused' : s.moments === 'int8' ? 'layer-wise, 8-bit moments' : 'layer-wise';
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 2)} ${units[i]}`;
}
