/**
 * Running a span of a GPT-2 model's blocks with a KV cache per conversation, and the node's ends of the pipeline (the
 * embeddings, the final LayerNorm and the tied head): distributed inference in the manner of Petals (Borzunov et al.
 * 2023, "Petals: Collaborative Inference and Fine-tuning of Large Models"), where each contributor holds a span
 * [start, end) of consecutive blocks and hidden states travel span to span. Browser-safe: onnxruntime comes in as a
 * `TrainingRuntime` (onnxruntime-node natively, onnxruntime-web in the browser).
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { numel, paramSpecs, type ModelConfig, type ParamSpec } from '../model/config.js';
import { blockParamSpecs, causalBias } from '../onnx/graphs.js';
import { disposeAll, type ParamTransfer, type TensorMap, type TrainingRuntime } from '../runtime/train-session.js';
import { buildEmbedGraph, buildHeadGraph, buildSpanBlockGraph } from './span-graphs.js';

/** Layers [start, end) of a model: the blocks `h.start` .. `h.(end - 1)`. */
export interface Span {
  start: number;
  end: number;
}

/** A RangeError unless `span` is a non-empty run of the config's layers. */
function checkSpan(cfg: ModelConfig, span: Span): void {
  const { start, end } = span;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end <= start || end > cfg.n_layer)
    throw new RangeError(`span [${start}, ${end}) is not a non-empty range of the model's ${cfg.n_layer} layers`);
}

/**
 * The safetensors names of the parameters of layers `span.start` .. `span.end - 1` (`h.{i}.*`, in file order): what
 * a contributor holding the span downloads. A RangeError when the span is empty or outside the model.
 */
export function spanParamNames(cfg: ModelConfig, span: Span): string[] {
  return spanParamSpecs(cfg, span).map((s) => s.name);
}

function spanParamSpecs(cfg: ModelConfig, span: Span): ParamSpec[] {
  checkSpan(cfg, span);
  return paramSpecs(cfg).filter((s) => {
    const layer = /^h\.(\d+)\./.exec(s.name);
    return layer !== null && Number(layer[1]) >= span.start && Number(layer[1]) < span.end;
  });
}

/** A RangeError naming the first of `specs` that `weights` lacks or holds at another size. */
function checkTensors(specs: readonly ParamSpec[], weights: Map<string, Float32Array>, holder: string): void {
  for (const s of specs) {
    const t = weights.get(s.name);
    if (!t) throw new RangeError(`weights lack tensor "${s.name}" (shape [${s.shape}]) that ${holder} needs`);
    if (t.length !== numel(s.shape))
      throw new RangeError(`tensor "${s.name}" has ${t.length} values but ${holder} needs [${s.shape}] (${numel(s.shape)})`);
  }
}

/** Rows of `width` values in `values`: a RangeError unless there is at least one whole row. */
function rowCount(values: Float32Array, width: number, what: string): number {
  if (values.length === 0 || values.length % width !== 0)
    throw new RangeError(`${what} holds ${values.length} values, not a whole number (at least 1) of rows of ${width}`);
  return values.length / width;
}

function checkPositions(cfg: ModelConfig, start: number, rows: number): void {
  if (!Number.isInteger(start) || start < 0) throw new RangeError(`start ${start} is not a position (an integer from 0)`);
  if (start + rows > cfg.n_positions)
    throw new RangeError(`positions ${start}..${start + rows - 1} run past the context of ${cfg.n_positions} positions`);
}

/** Runs tasks one at a time in call order: a session's cache is read and replaced by one forward at a time. */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** One conversation's cache: each layer's keys and values [1, H, length, D], on the device where the runtime keeps them. */
interface SessionCache {
  length: number;
  layers: { key: Tensor; value: Tensor }[];
}

const disposeCache = (c: SessionCache): void => disposeAll(c.layers.flatMap((l) => [l.key, l.value]));

export interface SpanRunnerOptions {
  /** Conversations whose caches are kept; past it the least recently used one is dropped. Default 16. */
  maxSessions?: number;
}

/**
 * A contributor's span of blocks: runs hidden states through layers [start, end) and keeps each conversation's KV
 * cache (on the device where the runtime keeps outputs there, e.g. webgpu). One block graph serves every layer, fed
 * that layer's weights. Forwards run one at a time, in call order.
 */
export class SpanRunner {
  private readonly caches = new Map<string, SessionCache>(); // least recently used first
  /** The session a forward is running for now (its cache is out of `caches` meanwhile), and whether it was dropped. */
  private running?: { session: string; dropped: boolean };
  private readonly serial = new Serial();
  private disposed = false;

  private constructor(
    readonly runtime: TrainingRuntime,
    readonly cfg: ModelConfig,
    readonly span: Span,
    readonly maxSessions: number,
    private readonly block: InferenceSession,
    private readonly transfer: ParamTransfer,
    private readonly params: TensorMap,
    /** Per layer of the span, its parameters under block 0's names (the names the block graph takes). */
    private readonly layerFeeds: Record<string, Tensor>[],
    private readonly emptyPast: Tensor,
  ) {}

  /**
   * Opens the block graph's session and uploads the span's weights (`weights` may hold more tensors than the span's;
   * only `spanParamNames(cfg, span)` are read). RangeError: the span is not within the model, `maxSessions` is not a
   * positive integer, or a tensor of the span is missing or of the wrong size (the message names it).
   */
  static async open(
    rt: TrainingRuntime,
    cfg: ModelConfig,
    span: Span,
    weights: Map<string, Float32Array>,
    opts: SpanRunnerOptions = {},
  ): Promise<SpanRunner> {
    const specs = spanParamSpecs(cfg, span);
    checkTensors(specs, weights, `layers [${span.start}, ${span.end})`);
    const maxSessions = opts.maxSessions ?? 16;
    if (!Number.isInteger(maxSessions) || maxSessions < 1)
      throw new RangeError(`maxSessions must be a positive integer, got ${maxSessions}`);
    const block = await rt.createSession(buildSpanBlockGraph(cfg), ['present.key', 'present.value']);
    const transfer = rt.transfer(specs);
    try {
      const params = await transfer.upload(new Map(specs.map((s) => [s.name, weights.get(s.name)!])));
      const blockNames = blockParamSpecs(cfg).map((s) => s.name.slice('h.0.'.length));
      const layerFeeds = Array.from({ length: span.end - span.start }, (_, j) =>
        Object.fromEntries(blockNames.map((n) => [`h.0.${n}`, params.get(`h.${span.start + j}.${n}`)!])),
      );
      const D = cfg.n_embd / cfg.n_head;
      const emptyPast = rt.tensor('float32', new Float32Array(0), [1, cfg.n_head, 0, D]);
      return new SpanRunner(rt, cfg, { ...span }, maxSessions, block, transfer, params, layerFeeds, emptyPast);
    } catch (err) {
      await block.release();
      await transfer.dispose();
      throw err;
    }
  }

  /** Conversations with a cache here now. */
  get sessions(): number {
    return this.caches.size + (this.running && !this.running.dropped ? 1 : 0);
  }

  /**
   * Runs `hidden` (rows x C float32, positions start .. start + rows - 1) through the span's layers in order and
   * returns the last layer's output (rows x C), extending `session`'s cache by these rows. `start` 0 begins a new
   * window (the session's cache is reset); otherwise it must equal the session's cached length. RangeError: `hidden`
   * is not whole rows, `start` is not the cached length (the message names both), or the rows run past n_positions.
   * A failed run drops the session's cache.
   */
  forward(session: string, hidden: Float32Array, start: number): Promise<Float32Array> {
    return this.serial.run(async () => {
      if (this.disposed) throw new Error('the span runner is disposed');
      const C = this.cfg.n_embd;
      const rows = rowCount(hidden, C, 'the hidden states');
      checkPositions(this.cfg, start, rows);
      const old = this.caches.get(session);
      const cached = old?.length ?? 0;
      if (start !== 0 && start !== cached)
        throw new RangeError(
          `session "${session}" has ${cached} cached positions: a forward must start at ${cached} (or at 0 for a new window), not at ${start}`,
        );
      this.caches.delete(session);
      if (old && start === 0) disposeCache(old);
      const past = start === 0 ? undefined : old;
      this.running = { session, dropped: false };
      const next: SessionCache = { length: start + rows, layers: [] };
      try {
        const bias = this.runtime.tensor('float32', causalBias(rows, start), [rows, start + rows]);
        let x = this.runtime.tensor('float32', hidden, [1, rows, C]);
        for (const [j, params] of this.layerFeeds.entries()) {
          const out = await this.block.run({
            ...params,
            hidden: x,
            attn_bias: bias,
            'past.key': past?.layers[j]!.key ?? this.emptyPast,
            'past.value': past?.layers[j]!.value ?? this.emptyPast,
          });
          next.layers.push({ key: out['present.key']!, value: out['present.value']! });
          x = out.hidden_out!;
        }
        if (this.running.dropped) disposeCache(next);
        else this.keep(session, next);
        return x.data as Float32Array;
      } catch (err) {
        disposeCache(next);
        throw err;
      } finally {
        if (past) disposeCache(past);
        this.running = undefined;
      }
    });
  }

  /** Stores a session's cache as the most recently used, dropping the least recently used past `maxSessions`. */
  private keep(session: string, cache: SessionCache): void {
    this.caches.set(session, cache);
    for (const [oldest, c] of this.caches) {
      if (this.caches.size <= this.maxSessions) break;
      this.caches.delete(oldest);
      disposeCache(c);
    }
  }

  /** Drops `session`'s cache (the conversation ended); a forward running for it now keeps nothing. */
  drop(session: string): void {
    const c = this.caches.get(session);
    if (c) {
      this.caches.delete(session);
      disposeCache(c);
    }
    if (this.running?.session === session) this.running.dropped = true;
  }

  /** Waits for the running forward, then frees every cache, the weights and the session. */
  async dispose(): Promise<void> {
    await this.serial.run(async () => {
      if (this.disposed) return;
      this.disposed = true;
      for (const c of this.caches.values()) disposeCache(c);
      this.caches.clear();
      disposeAll(this.params.values());
      await this.block.release();
      await this.transfer.dispose();
    });
  }
}

const EMBED_HEAD_PARAMS = ['wte.weight', 'wpe.weight', 'ln_f.weight', 'ln_f.bias'];

/**
 * The node's ends of the pipeline: token and position embeddings before the first span, the final LayerNorm and the
 * tied head after the last. Holds `wte`, `wpe` and `ln_f.*` only. Runs one at a time, in call order.
 */
export class EmbedHead {
  private readonly serial = new Serial();
  private disposed = false;

  private constructor(
    readonly runtime: TrainingRuntime,
    readonly cfg: ModelConfig,
    private readonly embedSession: InferenceSession,
    private readonly headSession: InferenceSession,
    private readonly transfer: ParamTransfer,
    private readonly params: TensorMap,
  ) {}

  /**
   * Opens the embedding and head sessions and uploads `wte.weight`, `wpe.weight`, `ln_f.weight` and `ln_f.bias`
   * (other tensors in `weights` are ignored). RangeError: one of them is missing or of the wrong size.
   */
  static async open(rt: TrainingRuntime, cfg: ModelConfig, weights: Map<string, Float32Array>): Promise<EmbedHead> {
    const specs = paramSpecs(cfg).filter((s) => EMBED_HEAD_PARAMS.includes(s.name));
    checkTensors(specs, weights, 'the embeddings and head');
    const embed = await rt.createSession(buildEmbedGraph(cfg), []);
    const head = await rt.createSession(buildHeadGraph(cfg), []).catch(async (err: unknown) => {
      await embed.release();
      throw err;
    });
    const transfer = rt.transfer(specs);
    try {
      const params = await transfer.upload(new Map(specs.map((s) => [s.name, weights.get(s.name)!])));
      return new EmbedHead(rt, cfg, embed, head, transfer, params);
    } catch (err) {
      await embed.release();
      await head.release();
      await transfer.dispose();
      throw err;
    }
  }

  /**
   * The embeddings of `tokens` at positions start .. start + tokens.length - 1: rows x C float32 (rows =
   * tokens.length), the first span's input. RangeError: no tokens, a token outside the vocabulary, or positions past
   * n_positions.
   */
  embed(tokens: number[], start: number): Promise<Float32Array> {
    return this.serial.run(async () => {
      if (this.disposed) throw new Error('the embeddings and head are disposed');
      const T = tokens.length;
      if (T === 0) throw new RangeError('embed needs at least one token');
      const V = this.cfg.vocab_size;
      const bad = tokens.find((t) => !Number.isInteger(t) || t < 0 || t >= V);
      if (bad !== undefined) throw new RangeError(`token ${bad} is not in the vocabulary of ${V}`);
      checkPositions(this.cfg, start, T);
      const rt = this.runtime;
      const out = await this.embedSession.run({
        'wte.weight': this.params.get('wte.weight')!,
        'wpe.weight': this.params.get('wpe.weight')!,
        input_ids: rt.tensor('int64', BigInt64Array.from(tokens, BigInt), [1, T]),
        position_ids: rt.tensor(
          'int64',
          BigInt64Array.from({ length: T }, (_, i) => BigInt(start + i)),
          [T],
        ),
      });
      return out.hidden!.data as Float32Array;
    });
  }

  /**
   * The next-token logits (V float32, unnormalized) from the last span's output: `hidden` is rows x C and only its
   * last row is used. RangeError: `hidden` is not whole rows of C.
   */
  logits(hidden: Float32Array): Promise<Float32Array> {
    return this.serial.run(async () => {
      if (this.disposed) throw new Error('the embeddings and head are disposed');
      const C = this.cfg.n_embd;
      const rows = rowCount(hidden, C, 'the hidden states');
      const out = await this.headSession.run({
        'ln_f.weight': this.params.get('ln_f.weight')!,
        'ln_f.bias': this.params.get('ln_f.bias')!,
        'wte.weight': this.params.get('wte.weight')!,
        hidden: this.runtime.tensor('float32', hidden.slice((rows - 1) * C), [1, 1, C]),
      });
      return out.logits!.data as Float32Array;
    });
  }

  async dispose(): Promise<void> {
    await this.serial.run(async () => {
      if (this.disposed) return;
      this.disposed = true;
      disposeAll(this.params.values());
      await this.embedSession.release();
      await this.headSession.release();
      await this.transfer.dispose();
    });
  }
}
