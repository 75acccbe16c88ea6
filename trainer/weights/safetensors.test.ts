import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TrainerErrorCode } from '../errors.js';
import { type ModelConfig, parseModelConfig } from '../model/config.js';
import { initWeights } from '../model/weights.js';
import { loadWeights, readSafetensors, saveWeights, writeConfigBeside, writeSafetensors } from './safetensors.js';

const cfg: ModelConfig = { vocab_size: 50, n_positions: 8, n_embd: 8, n_layer: 1, n_head: 2, n_inner: 16, layer_norm_epsilon: 1e-5 };
const dir = await mkdtemp(join(tmpdir(), 'ailo-st-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('safetensors', () => {
  it('round-trips weights bit for bit, in the safetensors layout', async () => {
    const w = initWeights(cfg, 3);
    const path = join(dir, 'w.safetensors');
    await saveWeights(path, cfg, w);
    const back = await loadWeights(path, cfg);
    for (const [k, v] of w) expect(back.get(k)).toEqual(v);
    const bytes = await readFile(path);
    const headerLen = Number(bytes.readBigUInt64LE(0));
    expect(headerLen % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString()) as Record<
      string,
      { dtype: string; shape: number[]; data_offsets: number[] }
    >;
    expect(header['h.0.attn.c_attn.weight']!.shape).toEqual([8, 24]);
    expect(header['wte.weight']).toEqual({ dtype: 'F32', shape: [50, 8], data_offsets: [0, 1600] });
  });

  it('reads F16 and BF16 tensors as float32', async () => {
    const path = join(dir, 'half.safetensors');
    const header = JSON.stringify({
      a: { dtype: 'F16', shape: [2], data_offsets: [0, 4] },
      b: { dtype: 'BF16', shape: [1], data_offsets: [4, 6] },
    });
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    // F16 1.5 = 0x3e00, -2 = 0xc000; BF16 3.0 = 0x4040
    await writeFile(path, Buffer.concat([len, Buffer.from(header), Buffer.from([0x00, 0x3e, 0x00, 0xc0, 0x40, 0x40])]));
    const f = await readSafetensors(path);
    expect(Array.from(f.tensors.get('a')!.data)).toEqual([1.5, -2]);
    expect(Array.from(f.tensors.get('b')!.data)).toEqual([3]);
  });

  it('accepts Hugging Face GPT2LMHeadModel names (transformer. prefix, lm_head, attention buffers)', async () => {
    const w = initWeights(cfg, 4);
    const path = join(dir, 'hf.safetensors');
    const entries: [string, { shape: number[]; data: Float32Array }][] = [...w].map(([k, v]) => [
      `transformer.${k}`,
      { shape: k === 'wte.weight' ? [50, 8] : shapeOf(k, v), data: v },
    ]);
    entries.push(['lm_head.weight', { shape: [50, 8], data: w.get('wte.weight')! }]);
    entries.push(['transformer.h.0.attn.bias', { shape: [1, 1, 8, 8], data: new Float32Array(64) }]);
    await writeSafetensors(path, entries);
    const back = await loadWeights(path, cfg);
    expect(back.get('h.0.mlp.c_fc.weight')).toEqual(w.get('h.0.mlp.c_fc.weight'));
  });

  it('names a missing file, a truncated file and a shape mismatch', async () => {
    await expect(loadWeights(join(dir, 'nope.safetensors'), cfg)).rejects.toMatchObject({
      code: TrainerErrorCode.WEIGHTS_MISSING,
      message: expect.stringMatching(/does not exist/),
    });
    const path = join(dir, 'trunc.safetensors');
    await saveWeights(path, cfg, initWeights(cfg, 5));
    await truncate(path, 1000);
    await expect(loadWeights(path, cfg)).rejects.toMatchObject({
      code: TrainerErrorCode.WEIGHTS_TRUNCATED,
      message: expect.stringMatching(/truncated/),
    });
    await truncate(path, 4);
    await expect(loadWeights(path, cfg)).rejects.toMatchObject({ code: TrainerErrorCode.WEIGHTS_TRUNCATED });
    const other = join(dir, 'other.safetensors');
    await saveWeights(other, { ...cfg, n_inner: 32 }, initWeights({ ...cfg, n_inner: 32 }, 5));
    await expect(loadWeights(other, cfg)).rejects.toMatchObject({
      code: TrainerErrorCode.SHAPE_MISMATCH,
      message: expect.stringMatching(/h\.0\.mlp\.c_fc\.weight.*\[8,32\].*\[8,16\]/),
    });
    await expect(loadWeights(join(dir, 'w.safetensors'), { ...cfg, n_layer: 2 })).rejects.toMatchObject({
      code: TrainerErrorCode.SHAPE_MISMATCH,
      message: expect.stringMatching(/lack tensor "h\.1\.ln_1\.weight"/),
    });
  });

  it('writes a Hugging Face config.json beside the weights', async () => {
    const path = await writeConfigBeside(join(dir, 'w.safetensors'), cfg);
    const json = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    expect(json.model_type).toBe('gpt2');
    expect(json.activation_function).toBe('gelu_new');
    expect(parseModelConfig(json)).toEqual(cfg);
  });
});

function shapeOf(name: string, v: Float32Array): number[] {
  if (name.endsWith('.c_attn.weight')) return [8, 24];
  if (name.endsWith('.c_fc.weight')) return [8, 16];
  if (name.endsWith('mlp.c_proj.weight')) return [16, 8];
  if (name.endsWith('attn.c_proj.weight')) return [8, 8];
  if (name === 'wpe.weight') return [8, 8];
  return [v.length];
}
