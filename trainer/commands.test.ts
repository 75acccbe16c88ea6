// ailo-trainer end to end on a tiny config: init, grad (the verifier's recompute), train, eval, generate,
// export/import, and clear errors for bad input.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from './commands.js';
import { paramSpecs, parseModelConfig } from './model/config.js';
import { initWeights } from './model/weights.js';
import { referenceLossAndGrads, toParams64 } from './reference/gpt2-f64.js';
import { loadWeights, readSafetensors } from './weights/safetensors.js';

const dir = await mkdtemp(join(tmpdir(), 'ailo-cli-'));
afterAll(() => rm(dir, { recursive: true, force: true }));
const cfgPath = join(dir, 'tiny.json');
const W = join(dir, 'w.safetensors');
await writeFile(cfgPath, JSON.stringify({ vocab_size: 97, n_positions: 16, n_embd: 16, n_layer: 2, n_head: 2, n_inner: 32 }));

/** A safetensors file with any dtypes, as other tools write it (the trainer itself writes F32 only). */
async function writeRawSafetensors(path: string, entries: [string, string, number[], Buffer][]): Promise<void> {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, dtype, shape, bytes] of entries) {
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  await writeFile(path, Buffer.concat([len, json, ...entries.map((e) => e[3])]));
}

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '',
    err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    return { code: await main(argv), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('ailo-trainer', () => {
  it('init writes weights that carry their own config: two models in one folder keep theirs (issue 17)', async () => {
    const r = await run('init', '--config', cfgPath, '--seed', '5', '--out', W);
    expect(r.code).toBe(0);
    const cfg = parseModelConfig(JSON.parse(await readFile(cfgPath, 'utf8')));
    expect((await loadWeights(W, cfg)).size).toBe(28);
    // Another model saved beside it used to overwrite the folder's one config.json; each file now names its own.
    const small = join(dir, 'w2.safetensors');
    expect((await run('init', '--config', 'ailo-tiny', '--out', small)).code).toBe(0);
    const meta = await readSafetensors(W);
    expect(parseModelConfig(JSON.parse(meta.metadata['ailo.config']!))).toEqual(cfg);
    const rows = join(dir, 'rows.json');
    await writeFile(rows, JSON.stringify({ tokens: [[1, 2, 3, 4]] }));
    const g = await run('grad', '--weights', W, '--tokens', rows, '--out', join(dir, 'g0.safetensors'));
    expect(g.code, g.err).toBe(0);
    await expect(readFile(join(dir, 'config.json'))).rejects.toThrow();
  });

  it('creates --out folders, and refuses an --out it cannot write before doing the work', async () => {
    const deep = join(dir, 'new', 'deeper', 'w.safetensors');
    const r = await run('init', '--config', cfgPath, '--out', deep);
    expect(r.code, r.err).toBe(0);
    expect((await loadWeights(deep, parseModelConfig(JSON.parse(await readFile(cfgPath, 'utf8'))))).size).toBe(28);
    const t = await run('train', '--config', cfgPath, '--steps', '1', '--out', join(dir, 'new'));
    expect(t.code).toBe(1);
    expect(t.err).toMatch(/--out .*new is a folder: name a file inside it/);
    expect(t.out).not.toMatch(/step 1/);
    // The example: train into a folder that does not exist yet keeps the result.
    const trained = join(dir, 'fresh', 'a', 'b', 'trained.safetensors');
    const ok = await run('train', '--config', 'ailo-tiny', '--steps', '1', '--batch', '1', '--seq', '16', '--out', trained);
    expect(ok.code, ok.err).toBe(0);
    expect((await readFile(trained)).length).toBeGreaterThan(1_000_000);
  });

  it('grad prints the mean cross-entropy and writes gradients that match the float64 reference', async () => {
    const rows = [
      [1, 5, 9, 96, 3, 3, 0],
      [7, 7, 7, 2, 50, 60, 70],
    ];
    const tokens = join(dir, 'tokens.json');
    await writeFile(tokens, JSON.stringify({ tokens: rows }));
    const G = join(dir, 'g.safetensors');
    const r = await run('grad', '--config', cfgPath, '--weights', W, '--tokens', tokens, '--out', G);
    expect(r.code, r.err).toBe(0);
    const cfg = parseModelConfig(JSON.parse(await readFile(cfgPath, 'utf8')));
    const ref = referenceLossAndGrads(cfg, toParams64(await loadWeights(W, cfg)), rows);
    const printed = Number(/loss (\S+)/.exec(r.out)![1]);
    expect(Math.abs(printed - ref.loss)).toBeLessThan(1e-5);
    const grads = await readSafetensors(G);
    const g = grads.tensors.get('h.1.attn.c_attn.weight')!;
    expect(g.shape).toEqual([16, 48]);
    const want = ref.grads.get('h.1.attn.c_attn.weight')!;
    let num = 0,
      den = 0;
    g.data.forEach((x, i) => {
      num += (x - want[i]!) ** 2;
      den += want[i]! ** 2;
    });
    expect(Math.sqrt(num / den)).toBeLessThan(1e-4);
  });

  it('export and import round-trip through the Hugging Face layout', async () => {
    const out = join(dir, 'hf');
    expect((await run('export', '--weights', W, '--out', out)).code).toBe(0);
    const back = join(dir, 'back', 'w.safetensors');
    await (await import('node:fs/promises')).mkdir(join(dir, 'back'));
    const r = await run('import', '--from', out, '--out', back);
    expect(r.code, r.err).toBe(0);
    const cfg = parseModelConfig(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')));
    expect((await loadWeights(back, cfg)).get('wte.weight')).toEqual((await loadWeights(W, cfg)).get('wte.weight'));
  });

  it('import reads files as other tools write them, and refuses a layout it would misread (issue 17)', async () => {
    const cfg = parseModelConfig(JSON.parse(await readFile(cfgPath, 'utf8')));
    const w = initWeights(cfg, 9);
    const f32 = (t: Float32Array): Buffer => Buffer.from(t.buffer, t.byteOffset, t.byteLength);
    // Hugging Face names, the attention-mask buffers as U8 and BOOL, and (tied weights, as save_model writes them)
    // only lm_head.weight for the embedding.
    const entries: [string, string, number[], Buffer][] = paramSpecs(cfg).map(
      (s) =>
        [s.name === 'wte.weight' ? 'lm_head.weight' : `transformer.${s.name}`, 'F32', s.shape, f32(w.get(s.name)!)] as [
          string,
          string,
          number[],
          Buffer,
        ],
    );
    entries.push(
      ['transformer.h.0.attn.bias', 'U8', [1, 1, 16, 16], Buffer.alloc(256, 1)],
      ['transformer.h.1.attn.bias', 'BOOL', [1, 1, 16, 16], Buffer.alloc(256, 1)],
    );
    const hf = join(dir, 'hf-like.safetensors');
    await writeRawSafetensors(hf, entries);
    const out = join(dir, 'imported', 'w.safetensors');
    const r = await run('import', '--from', hf, '--config', cfgPath, '--out', out);
    expect(r.code, r.err).toBe(0);
    const back = await loadWeights(out, cfg);
    expect(back.get('wte.weight')).toEqual(w.get('wte.weight'));
    expect(back.get('h.1.attn.c_attn.weight')).toEqual(w.get('h.1.attn.c_attn.weight'));

    // nn.Linear's layout ([out, in]) for a Conv1D matrix has the same number of values: refused by shape, not misread.
    const linear = entries.map(
      ([n, d, s, b]) =>
        (n === 'transformer.h.0.attn.c_attn.weight' ? [n, d, [...s].reverse(), b] : [n, d, s, b]) as [string, string, number[], Buffer],
    );
    await writeRawSafetensors(hf, linear);
    const bad = await run('import', '--from', hf, '--config', cfgPath, '--out', join(dir, 'imported', 'bad.safetensors'));
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/"h\.0\.attn\.c_attn\.weight" has shape \[48,16\] but the config needs \[16,48\]/);
  });

  it('generate samples tokens with a KV cache', async () => {
    const W2 = join(dir, 'tiny', 'w.safetensors');
    await (await import('node:fs/promises')).mkdir(join(dir, 'tiny'));
    expect((await run('init', '--config', 'ailo-tiny', '--out', W2)).code).toBe(0);
    const r = await run('generate', '--weights', W2, '--prompt', 'Hi', '--tokens', '5', '--temperature', '0.8', '--top-k', '5');
    expect(r.code, r.err).toBe(0);
    expect(r.out.startsWith('Hi')).toBe(true);
  });

  it('generate gives every asked token past the context length, also after a prompt longer than it (issue 17)', async () => {
    const W2 = join(dir, 'tiny', 'w.safetensors');
    const prompt = 'one two '.repeat(100).trim(); // 200 tokens; ailo-tiny's context is 128
    const r = await run('generate', '--weights', W2, '--prompt', prompt, '--tokens', '150', '--temperature', '0');
    expect(r.code, r.err).toBe(0);
    const { encodeText } = await import('./corpus/tokenizer.js');
    expect(encodeText(r.out.trimEnd()).length - encodeText(prompt).length).toBeGreaterThanOrEqual(140);
  });

  it('names bad input: token out of range, truncated weights, shape mismatch, unknown provider, bad flag', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ tokens: [[1, 2, 97]] }));
    let r = await run('grad', '--weights', W, '--tokens', bad, '--out', join(dir, 'x.safetensors'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/token id 97 at row 0, position 2 is out of range \(vocab_size 97\)/);

    r = await run('grad', '--weights', W, '--tokens', bad, '--out', join(dir, 'x.safetensors'), '--provider', 'tpu');
    expect(r.err).toMatch(/unknown execution provider "tpu"/);

    r = await run('eval', '--weights', W, '--config', 'ailo-tiny');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/wte\.weight" has shape \[97,16\] but the config needs \[50257,64\]/);

    const cut = join(dir, 'cut.safetensors');
    await writeFile(cut, await readFile(W));
    await truncate(cut, 5000);
    r = await run('generate', '--weights', cut, '--config', cfgPath, '--prompt', 'x');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cut\.safetensors is truncated/);

    r = await run('train', '--stepz', '3');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/stepz/);
  });

  it('exits non-zero with one line and no stack trace as a process', () => {
    const p = spawnSync(
      process.execPath,
      [
        'bin/ailo-trainer.js',
        'grad',
        '--weights',
        join(dir, 'missing.safetensors'),
        '--config',
        'ailo-tiny',
        '--tokens',
        'x',
        '--out',
        'y',
      ],
      {
        encoding: 'utf8',
        cwd: join(import.meta.dirname, '..'),
      },
    );
    expect(p.status).toBe(1);
    expect(p.stderr.trim()).toMatch(/^ailo-trainer grad: error: tokens file x cannot be read/);
    expect(p.stderr).not.toMatch(/\n\s+at /);
  });
});
