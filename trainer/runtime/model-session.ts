// The trainer's sessions on onnxruntime-node: gradients (what a verifier recomputes), local training (the shared
// TrainSession over this build) and forward passes. Parameters stay on the device where the provider allows (webgpu).
import { type ModelConfig, paramSpecs } from '../model/config.js';
import { checkWeights, type Weights } from '../model/weights.js';
import { buildForwardGraph, buildTrainingGraph, causalBias, type Precision } from '../onnx/graphs.js';
import { contextWindow } from '../inference/decode.js';
import { DeviceTransfer } from './device.js';
import { disposeAll, tokenFeeds, TrainSession, type TensorMap, type TrainingRuntime, type TrainSessionShape } from './train-session.js';
import type { Provider } from './provider.js';
import { createSession, ort } from './session.js';
import type { TokenBatch } from './tokens.js';

/** A host tensor of onnxruntime-node. */
const tensor = ((type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]) =>
  new ort.Tensor(type, data as Float32Array, dims)) as TrainingRuntime['tensor'];

/** Loss and the gradient of every parameter for fixed batch and sequence sizes (what a verifier recomputes). */
export class GradientSession {
  private constructor(
    readonly cfg: ModelConfig,
    readonly provider: Provider,
    readonly batch: number,
    readonly seq: number,
    private readonly session: ort.InferenceSession,
    private readonly transfer: DeviceTransfer,
    readonly precision: Precision,
  ) {}

  static async create(
    cfg: ModelConfig,
    provider: Provider,
    batch: number,
    seq: number,
    opts: { forbidCpuFallback?: boolean; precision?: Precision } = {},
  ): Promise<GradientSession> {
    const graph = buildTrainingGraph(cfg, { batch, seq, precision: opts.precision });
    const session = await createSession(graph.bytes, provider, opts);
    return new GradientSession(cfg, provider, batch, seq, session, new DeviceTransfer(provider, paramSpecs(cfg)), opts.precision ?? 'fp32');
  }

  /** The loss and the gradients (unscaled); with fp16, computed at loss scale `lossScale` (default 1024). */
  async run(weights: Weights, batch: TokenBatch, lossScale = 1024): Promise<{ loss: number; grads: Weights }> {
    const feeds = tokenFeeds(tensor, batch, 'train', this);
    if (this.precision !== 'fp32') feeds.loss_scale = tensor('float32', Float32Array.of(lossScale), []);
    checkWeights(this.cfg, weights);
    const params = await this.transfer.upload(weights);
    const out = await this.session.run({ ...Object.fromEntries(params), ...feeds });
    disposeAll(params.values());
    const grads: Weights = new Map(paramSpecs(this.cfg).map((s) => [s.name, out[`grad.${s.name}`]!.data as Float32Array]));
    return { loss: (out.loss!.data as Float32Array)[0]!, grads };
  }

  async dispose(): Promise<void> {
    await this.session.release();
    await this.transfer.dispose();
  }
}

/**
 * The training runtime of onnxruntime-node on `provider`: sessions from `createSession` (state outputs on the device
 * on webgpu), parameters moved by `DeviceTransfer`.
 */
export function nodeRuntime(provider: Provider, opts: { deviceId?: number; forbidCpuFallback?: boolean } = {}): TrainingRuntime {
  return {
    device: { provider, deviceId: opts.deviceId },
    tensor,
    createSession: (graph, deviceOutputs, session) =>
      createSession(graph.bytes, provider, {
        deviceOutputs,
        forbidCpuFallback: opts.forbidCpuFallback,
        deviceId: opts.deviceId,
        ...session,
      }),
    transfer: (specs) => new DeviceTransfer(provider, specs),
  };
}

/** A training session of onnxruntime-node on `provider`, started from `weights`. */
export async function openTrainSession(
  cfg: ModelConfig,
  provider: Provider,
  opts: TrainSessionShape & { weights: Weights; forbidCpuFallback?: boolean; deviceId?: number },
): Promise<TrainSession> {
  const session = await TrainSession.open(nodeRuntime(provider, opts), cfg, opts);
  try {
    await session.start(opts.weights);
  } catch (err) {
    await session.dispose();
    throw err;
  }
  return session;
}

/** Forward passes: held-out loss, and incremental decoding with a KV cache. */
export class ForwardSession {
  private lossSession?: ort.InferenceSession;
  private prefillSession?: ort.InferenceSession;
  private decodeSession?: ort.InferenceSession;
  private readonly transfer: DeviceTransfer;
  private params: TensorMap = new Map();

  constructor(
    readonly cfg: ModelConfig,
    readonly provider: Provider,
  ) {
    this.transfer = new DeviceTransfer(provider, paramSpecs(cfg));
  }

  async setWeights(w: Weights): Promise<void> {
    checkWeights(this.cfg, w);
    disposeAll(this.params.values());
    this.params = await this.transfer.upload(w);
  }

  /** Lets go of the weights `setWeights` gave (set them again before the next run). */
  releaseWeights(): void {
    disposeAll(this.params.values());
    this.params = new Map();
  }

  /** Mean cross-entropy of a batch (any batch and sequence sizes up to n_positions). */
  async loss(batch: TokenBatch, params: TensorMap = this.params): Promise<number> {
    return (await this.runLoss(batch, params)).loss;
  }

  /** Each row's mean cross-entropy (nats), [B]: the samples a paired test over rows needs. */
  async rowLosses(batch: TokenBatch, params: TensorMap = this.params): Promise<Float32Array> {
    return (await this.runLoss(batch, params)).rows;
  }

  private async runLoss(batch: TokenBatch, params: TensorMap): Promise<{ loss: number; rows: Float32Array }> {
    this.lossSession ??= await createSession(buildForwardGraph(this.cfg, { loss: true }).bytes, this.provider);
    const T = batch.seq;
    const out = await this.lossSession.run({
      ...Object.fromEntries(params),
      ...tokenFeeds(tensor, batch, 'forward'),
      position_ids: new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: T }, (_, i) => BigInt(i)),
        [T],
      ),
      attn_bias: new ort.Tensor('float32', causalBias(T), [T, T]),
    });
    return { loss: (out.loss!.data as Float32Array)[0]!, rows: Float32Array.from(out.row_loss!.data as Float32Array) };
  }

  /** Logits [T, V] of one sequence, computed in full (no cache). */
  async logits(tokens: number[]): Promise<Float32Array> {
    this.prefillSession ??= await this.createPrefill();
    const T = tokens.length;
    const out = await this.prefillSession.run({
      ...Object.fromEntries(this.params),
      input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [1, T]),
      position_ids: new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: T }, (_, i) => BigInt(i)),
        [T],
      ),
      attn_bias: new ort.Tensor('float32', causalBias(T), [T, T]),
    });
    const logits = out.logits!.data as Float32Array;
    disposeAll(this.cacheOutputs().map((n) => out[n]!));
    return logits;
  }

  private cacheOutputs(): string[] {
    return Array.from({ length: this.cfg.n_layer }, (_, i) => [`present.${i}.key`, `present.${i}.value`]).flat();
  }

  private createPrefill(): Promise<ort.InferenceSession> {
    return createSession(buildForwardGraph(this.cfg, { logits: true, presents: true }).bytes, this.provider, {
      deviceOutputs: this.cacheOutputs(),
    });
  }

  /**
   * Samples `count` tokens after `prompt`: one prefill run, then one run per token that reads and extends the
   * KV cache (kept on the device on webgpu). `sample` picks a token from the last position's logits.
   * The context holds `n_positions` tokens (`contextWindow`, shared with distributed decoding): a longer prompt keeps
   * its last `n_positions - 1`, and when the window is full it shifts to its last half (re-prefilled at positions from
   * 0), so `count` tokens always come out (the context shift of llama.cpp; tokens before the window no longer
   * condition the next ones).
   */
  async generate(prompt: number[], count: number, sample: (logits: Float32Array) => number): Promise<number[]> {
    const cfg = this.cfg;
    const V = cfg.vocab_size;
    const ctx = cfg.n_positions;
    if (prompt.length === 0) throw new RangeError('the prompt needs at least one token');
    const cacheOutputs = this.cacheOutputs();
    const prefill = (this.prefillSession ??= await this.createPrefill());
    this.decodeSession ??= await createSession(buildForwardGraph(cfg, { logits: true, past: true }).bytes, this.provider, {
      deviceOutputs: cacheOutputs,
    });
    const params = Object.fromEntries(this.params);
    const run = (window: number[]): Promise<ort.InferenceSession.OnnxValueMapType> => {
      const T = window.length;
      return prefill.run({
        ...params,
        input_ids: new ort.Tensor('int64', BigInt64Array.from(window, BigInt), [1, T]),
        position_ids: new ort.Tensor(
          'int64',
          BigInt64Array.from({ length: T }, (_, i) => BigInt(i)),
          [T],
        ),
        attn_bias: new ort.Tensor('float32', causalBias(T), [T, T]),
      });
    };
    let window = contextWindow([], prompt, ctx);
    let out = await run(window.tokens);
    const generated: number[] = [];
    while (generated.length < count) {
      const logits = out.logits!.data as Float32Array;
      const next = sample(logits.subarray(logits.length - V));
      generated.push(next);
      if (generated.length >= count) break;
      window = contextWindow(window.tokens, [next], ctx);
      const prev = out;
      if (window.start === 0) {
        out = await run(window.tokens);
      } else {
        const pos = window.start;
        const feeds: Record<string, ort.Tensor> = {
          ...params,
          input_ids: new ort.Tensor('int64', BigInt64Array.of(BigInt(next)), [1, 1]),
          position_ids: new ort.Tensor('int64', BigInt64Array.of(BigInt(pos)), [1]),
          attn_bias: new ort.Tensor('float32', new Float32Array(pos + 1), [1, pos + 1]),
        };
        for (let i = 0; i < cfg.n_layer; i++) {
          feeds[`past.${i}.key`] = out[`present.${i}.key`]!;
          feeds[`past.${i}.value`] = out[`present.${i}.value`]!;
        }
        out = await this.decodeSession.run(feeds);
      }
      disposeAll(cacheOutputs.map((n) => prev[n]!));
    }
    disposeAll(cacheOutputs.map((n) => out[n]!));
    return generated;
  }

  async dispose(): Promise<void> {
    disposeAll(this.params.values());
    await this.lossSession?.release();
    await this.prefillSession?.release();
    await this.decodeSession?.release();
    await this.transfer.dispose();
  }
}
