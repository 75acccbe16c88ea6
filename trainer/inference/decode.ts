/**
 * Token-by-token decoding over a pipeline of spans (distributed inference in the manner of Petals, Borzunov et al.
 * 2023): the node embeds, the spans run in order with their KV caches, the node applies the head and samples. The
 * context window rule is `contextWindow`, shared with `ForwardSession.generate` so both decode the same way.
 */
import type { ModelConfig } from '../model/config.js';
import type { EmbedHead, SpanRunner } from './span-runner.js';

/** The context after adding tokens, and where the next run starts. */
export interface ContextWindow {
  /** The tokens the next run conditions on (at positions 0 .. tokens.length - 1). */
  tokens: number[];
  /** The position of the first token to run: 0 runs (prefills) the whole window; otherwise the cache holds the rest. */
  start: number;
}

/**
 * The context window after appending `added` to `window` (the previous `tokens`, [] to begin), in a context of
 * `nPositions`. To begin, it keeps the last nPositions - 1 tokens and runs them all (start 0). Then each added token
 * runs alone at start = window length; when the window reaches nPositions it shifts to its last floor(nPositions / 2)
 * tokens, re-prefilled from position 0 (llama.cpp's context shift: tokens before the window no longer condition the
 * next ones). Pure.
 */
export function contextWindow(window: readonly number[], added: readonly number[], nPositions: number): ContextWindow {
  if (window.length === 0) return { tokens: added.slice(-(nPositions - 1)), start: 0 };
  const tokens = [...window, ...added];
  if (tokens.length >= nPositions) return { tokens: tokens.slice(-Math.max(1, Math.floor(nPositions / 2))), start: 0 };
  return { tokens, start: window.length };
}

/** The spans of one model in order, for one conversation. */
export interface HiddenPipeline {
  /**
   * Runs every span in order on `hidden` (rows x C float32, positions start .. start + rows - 1; start 0 begins a new
   * window) and returns the last span's output, rows x C.
   */
  run(hidden: Float32Array, rows: number, start: number): Promise<Float32Array>;
}

export interface DecodeOptions {
  cfg: ModelConfig;
  embedHead: EmbedHead;
  pipeline: HiddenPipeline;
  /** Token ids; a prompt longer than the context keeps its last n_positions - 1. */
  prompt: number[];
  /** Tokens to sample. */
  maxTokens: number;
  /** Picks the next token from the last position's logits (V float32), e.g. `makeSampler`. */
  sample: (logits: Float32Array) => number;
}

/**
 * Yields `maxTokens` sampled tokens after `prompt`: one prefill run of the window, then one row per token, shifting
 * the window when full (`contextWindow`; the same tokens as `ForwardSession.generate` on the whole model).
 * RangeError: an empty prompt. Errors of the pipeline or the head propagate.
 */
export async function* decodeTokens(opts: DecodeOptions): AsyncGenerator<number> {
  const { cfg, embedHead, pipeline, sample } = opts;
  if (opts.prompt.length === 0) throw new RangeError('the prompt needs at least one token');
  let window = contextWindow([], opts.prompt, cfg.n_positions);
  for (let made = 0; made < opts.maxTokens; made++) {
    const feed = window.tokens.slice(window.start);
    const hidden = await pipeline.run(await embedHead.embed(feed, window.start), feed.length, window.start);
    const next = sample(await embedHead.logits(hidden));
    yield next;
    window = contextWindow(window.tokens, [next], cfg.n_positions);
  }
}

/** Spans in this process, run in order under one conversation id `session` (tests, benches, the node's spot checks). */
export function localPipeline(runners: SpanRunner[], session: string): HiddenPipeline {
  if (runners.length === 0) throw new RangeError('a pipeline needs at least one span');
  const C = runners[0]!.cfg.n_embd;
  return {
    async run(hidden, rows, start) {
      if (hidden.length !== rows * C) throw new RangeError(`${hidden.length} hidden values are not ${rows} rows of ${C}`);
      for (const r of runners) hidden = await r.forward(session, hidden, start);
      return hidden;
    },
  };
}
