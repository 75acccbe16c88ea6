// Distributed inference over spans gives what the whole model gives: the same greedy tokens as ForwardSession.generate
// (through the context shift and from a prompt longer than the context) and the same logits; runners refuse what
// does not fit their cache, keep conversations apart and drop the least recently used.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paramSpecs, type ModelConfig } from '../model/config.js';
import { initWeights, type Weights } from '../model/weights.js';
import { ForwardSession, nodeRuntime } from '../runtime/model-session.js';
import type { Provider } from '../runtime/provider.js';
import { makeSampler } from '../runtime/sampling.js';
import { contextWindow, decodeTokens, localPipeline } from './decode.js';
import { EmbedHead, SpanRunner, spanParamNames, type Span } from './span-runner.js';

const cfg: ModelConfig = { vocab_size: 101, n_positions: 24, n_embd: 32, n_layer: 4, n_head: 4, n_inner: 64, layer_norm_epsilon: 1e-5 };
const C = cfg.n_embd;
const SPANS: Span[] = [
  { start: 0, end: 1 },
  { start: 1, end: 3 },
  { start: 3, end: 4 },
];

function sharpWeights(): Weights {
  const w = initWeights(cfg, 3);
  for (const t of w.values()) for (let i = 0; i < t.length; i++) t[i]! *= 20; // sharper logits, fewer near-ties
  return w;
}

const greedy = (): ((logits: Float32Array) => number) => makeSampler({ temperature: 0, topK: 0, seed: 1 });

async function collect(gen: AsyncGenerator<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const t of gen) out.push(t);
  return out;
}

describe.each(['cpu', 'webgpu'] as Provider[])('spans on %s', (provider) => {
  const w = sharpWeights();
  let fs: ForwardSession;
  let head: EmbedHead;
  let runners: SpanRunner[];

  beforeAll(async () => {
    fs = new ForwardSession(cfg, provider);
    await fs.setWeights(w);
    const rt = nodeRuntime(provider);
    head = await EmbedHead.open(rt, cfg, w);
    runners = [];
    for (const span of SPANS) runners.push(await SpanRunner.open(rt, cfg, span, w));
  });
  afterAll(async () => {
    await fs.dispose();
    await head.dispose();
    for (const r of runners) await r.dispose();
  });

  const decode = (session: string, prompt: number[], maxTokens: number): AsyncGenerator<number> =>
    decodeTokens({ cfg, embedHead: head, pipeline: localPipeline(runners, session), prompt, maxTokens, sample: greedy() });

  it('greedy decoding through the spans equals ForwardSession.generate, past n_positions and from a prompt longer than it', async () => {
    const prompt = [5, 17, 99];
    const out = await collect(decode('short', prompt, 40));
    expect(out).toHaveLength(40); // more than the 21 that fit after the prompt: the window shifts
    expect(out).toEqual(await fs.generate(prompt, 40, greedy()));
    const long = Array.from({ length: 30 }, (_, i) => (i * 37) % cfg.vocab_size);
    expect(await collect(decode('long', long, 20))).toEqual(await fs.generate(long, 20, greedy()));
  });

  it('the split pipeline gives the whole model’s last-position logits, from a prefill and from the cache', async () => {
    const tokens = [3, 1, 4, 1, 5, 9, 2, 6];
    const pipeline = localPipeline(runners, 'logits');
    const maxError = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
    const scale = (b: Float32Array): number => b.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
    const whole = async (t: number[]): Promise<Float32Array> => (await fs.logits(t)).slice((t.length - 1) * cfg.vocab_size);

    const prefill = await head.logits(await pipeline.run(await head.embed(tokens, 0), tokens.length, 0));
    const want = await whole(tokens);
    expect(maxError(prefill, want) / scale(want)).toBeLessThan(1e-4);
    // One more token at position 8, read against the cached 8.
    const step = await head.logits(await pipeline.run(await head.embed([7], tokens.length), 1, tokens.length));
    const wantStep = await whole([...tokens, 7]);
    expect(maxError(step, wantStep) / scale(wantStep)).toBeLessThan(1e-4);
    for (const r of runners) r.drop('logits');
  });

  it('interleaved conversations give the tokens each gives alone', async () => {
    const a = [7, 8, 9],
      b = [40, 2];
    const alone = [await collect(decode('a', a, 30)), await collect(decode('b', b, 30))];
    const ga = decode('a2', a, 30),
      gb = decode('b2', b, 30);
    const together: number[][] = [[], []];
    for (let i = 0; i < 30; i++) {
      together[0]!.push((await ga.next()).value as number);
      together[1]!.push((await gb.next()).value as number);
    }
    expect(together).toEqual(alone);
    expect(alone[0]).not.toEqual(alone[1]);
  });
});

describe('span runner limits (cpu)', () => {
  const w = sharpWeights();
  const rt = nodeRuntime('cpu');
  const rows = (n: number): Float32Array => Float32Array.from({ length: n * C }, (_, i) => Math.sin(i));

  it('refuses a start that is not the cached length, rows past the context, and partial rows', async () => {
    const r = await SpanRunner.open(rt, cfg, { start: 1, end: 3 }, w);
    await r.forward('s', rows(3), 0);
    await expect(r.forward('s', rows(1), 2)).rejects.toThrow(
      new RangeError('session "s" has 3 cached positions: a forward must start at 3 (or at 0 for a new window), not at 2'),
    );
    await expect(r.forward('unknown', rows(1), 5)).rejects.toThrow(/session "unknown" has 0 cached positions.*not at 5/);
    await expect(r.forward('s', rows(22), 3)).rejects.toThrow(new RangeError('positions 3..24 run past the context of 24 positions'));
    await expect(r.forward('new', rows(25), 0)).rejects.toThrow(RangeError);
    await expect(r.forward('s', new Float32Array(C + 1), 3)).rejects.toThrow(/not a whole number .* rows of 32/);
    // The refused calls left the cache as it was.
    expect((await r.forward('s', rows(21), 3)).length).toBe(21 * C);
    await r.dispose();
  });

  it('refuses a span outside the model and missing or wrong-size weights, naming the tensor', async () => {
    await expect(SpanRunner.open(rt, cfg, { start: 2, end: 2 }, w)).rejects.toThrow(/span \[2, 2\) is not a non-empty range/);
    await expect(SpanRunner.open(rt, cfg, { start: 3, end: 5 }, w)).rejects.toThrow(RangeError);
    const missing = new Map(w);
    missing.delete('h.2.mlp.c_fc.bias');
    await expect(SpanRunner.open(rt, cfg, { start: 1, end: 3 }, missing)).rejects.toThrow(
      new RangeError('weights lack tensor "h.2.mlp.c_fc.bias" (shape [64]) that layers [1, 3) needs'),
    );
    // Layers outside the span are not read.
    const r = await SpanRunner.open(rt, cfg, { start: 3, end: 4 }, missing);
    await r.dispose();
    const short = new Map(w).set('h.1.attn.c_proj.weight', new Float32Array(10));
    await expect(SpanRunner.open(rt, cfg, { start: 1, end: 2 }, short)).rejects.toThrow(
      new RangeError('tensor "h.1.attn.c_proj.weight" has 10 values but layers [1, 2) needs [32,32] (1024)'),
    );
    const noLnf = new Map(w);
    noLnf.delete('ln_f.bias');
    await expect(EmbedHead.open(rt, cfg, noLnf)).rejects.toThrow(/weights lack tensor "ln_f.bias"/);
    const head = await EmbedHead.open(rt, cfg, w);
    await expect(head.embed([1, 101], 0)).rejects.toThrow(new RangeError('token 101 is not in the vocabulary of 101'));
    await expect(head.embed([1, 2], 23)).rejects.toThrow(RangeError);
    await head.dispose();
  });

  it('keeps at most maxSessions caches, dropping the least recently used', async () => {
    const r = await SpanRunner.open(rt, cfg, { start: 0, end: 2 }, w, { maxSessions: 2 });
    await r.forward('a', rows(2), 0);
    await r.forward('b', rows(2), 0);
    await r.forward('a', rows(1), 2); // a is now the most recently used
    await r.forward('c', rows(2), 0); // evicts b
    expect(r.sessions).toBe(2);
    await expect(r.forward('b', rows(1), 2)).rejects.toThrow(/session "b" has 0 cached positions/);
    expect((await r.forward('a', rows(1), 3)).length).toBe(C);
    r.drop('c');
    expect(r.sessions).toBe(1);
    await expect(r.forward('c', rows(1), 2)).rejects.toThrow(/session "c" has 0 cached positions/);
    await r.dispose();
  });

  it('a cached step gives the same rows as running the window again, from a view into a larger buffer', async () => {
    const r = await SpanRunner.open(rt, cfg, { start: 0, end: 4 }, w);
    const x = rows(5);
    const full = await r.forward('full', x, 0);
    await r.forward('steps', x.slice(0, 3 * C), 0);
    // A view into a larger buffer (as a decoded frame's payload is) reads from its own offset.
    const tail = await r.forward('steps', x.subarray(3 * C), 3);
    const err = tail.reduce((m, v, i) => Math.max(m, Math.abs(v - full[3 * C + i]!)), 0);
    expect(err).toBeLessThan(1e-4 * full.reduce((m, v) => Math.max(m, Math.abs(v)), 1));
    await r.dispose();
  });
});

describe('spans and windows', () => {
  it('spanParamNames lists exactly the h.{i}.* names of the span', () => {
    const names = spanParamNames(cfg, { start: 1, end: 3 });
    expect(names).toHaveLength(24);
    expect(names.every((n) => n.startsWith('h.1.') || n.startsWith('h.2.'))).toBe(true);
    expect(names).toContain('h.2.mlp.c_proj.bias');
    const all = SPANS.flatMap((s) => spanParamNames(cfg, s));
    expect(all).toEqual(
      paramSpecs(cfg)
        .filter((s) => s.name.startsWith('h.'))
        .map((s) => s.name),
    );
    expect(() => spanParamNames(cfg, { start: 0, end: 5 })).toThrow(RangeError);
  });

  it('contextWindow keeps the prompt’s last n - 1 tokens, then steps, then shifts to the last half when full', () => {
    const n = 8;
    expect(contextWindow([], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], n)).toEqual({ tokens: [4, 5, 6, 7, 8, 9, 10], start: 0 });
    expect(contextWindow([1, 2, 3], [4], n)).toEqual({ tokens: [1, 2, 3, 4], start: 3 });
    expect(contextWindow([1, 2, 3, 4, 5, 6, 7], [8], n)).toEqual({ tokens: [5, 6, 7, 8], start: 0 });
  });
});
