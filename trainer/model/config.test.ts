import { describe, expect, it } from 'vitest';
import { TrainerError } from '../errors.js';
import { paramCount, paramSpecs, parseModelConfig, presetConfig, PRESETS, toHfConfigJson } from './config.js';
import { checkWeights, initWeights } from './weights.js';

describe('model config', () => {
  it('ailo-1b has exactly 821,470,400 parameters with tied embeddings', () => {
    expect(paramCount(presetConfig('ailo-1b'))).toBe(821_470_400);
  });

  it('uses Hugging Face GPT-2 names and [in, out] Conv1D layouts', () => {
    const specs = new Map(paramSpecs(PRESETS['ailo-tiny']).map((s) => [s.name, s.shape]));
    expect(specs.get('wte.weight')).toEqual([50257, 64]);
    expect(specs.get('h.1.attn.c_attn.weight')).toEqual([64, 192]);
    expect(specs.get('h.0.mlp.c_proj.weight')).toEqual([256, 64]);
    expect(specs.get('ln_f.bias')).toEqual([64]);
    expect(specs.has('lm_head.weight')).toBe(false);
  });

  it('round-trips through the Hugging Face config.json', () => {
    const cfg = presetConfig('ailo-small');
    expect(parseModelConfig(JSON.parse(JSON.stringify(toHfConfigJson(cfg))))).toEqual(cfg);
    expect(parseModelConfig({ ...toHfConfigJson(cfg), n_inner: null }).n_inner).toBe(4 * cfg.n_embd);
  });

  it('rejects bad configs and unknown presets with a named field', () => {
    expect(() => parseModelConfig({ ...toHfConfigJson(presetConfig('ailo-tiny')), n_head: 3 })).toThrow(/divisible by n_head/);
    expect(() => parseModelConfig({ ...toHfConfigJson(presetConfig('ailo-tiny')), n_layer: 0 })).toThrow(/n_layer/);
    expect(() => parseModelConfig({ ...toHfConfigJson(presetConfig('ailo-tiny')), activation_function: 'relu' })).toThrow(
      /activation_function/,
    );
    expect(() => presetConfig('ailo-2b')).toThrow(TrainerError);
  });
});

describe('GPT-2 init', () => {
  const cfg = presetConfig('ailo-tiny');
  const a = initWeights(cfg, 42);

  it('is deterministic in the seed and differs between seeds', () => {
    const b = initWeights(cfg, 42);
    const c = initWeights(cfg, 43);
    expect(b.get('h.0.attn.c_attn.weight')).toEqual(a.get('h.0.attn.c_attn.weight'));
    expect(c.get('h.0.attn.c_attn.weight')).not.toEqual(a.get('h.0.attn.c_attn.weight'));
    checkWeights(cfg, a);
  });

  it('draws N(0, 0.02), residual projections N(0, 0.02/sqrt(2 n_layer)), LN weights 1, biases 0', () => {
    const std = (t: Float32Array): number => Math.sqrt(t.reduce((s, x) => s + x * x, 0) / t.length);
    const mean = (t: Float32Array): number => t.reduce((s, x) => s + x, 0) / t.length;
    expect(std(a.get('wte.weight')!)).toBeCloseTo(0.02, 3);
    expect(Math.abs(mean(a.get('wte.weight')!))).toBeLessThan(1e-4);
    expect(std(a.get('h.1.mlp.c_fc.weight')!)).toBeCloseTo(0.02, 3);
    expect(std(a.get('h.1.mlp.c_proj.weight')!)).toBeCloseTo(0.02 / Math.sqrt(4), 3);
    expect(std(a.get('h.0.attn.c_proj.weight')!)).toBeCloseTo(0.01, 3);
    expect(a.get('h.0.ln_1.weight')!.every((x) => x === 1)).toBe(true);
    expect(a.get('h.0.attn.c_attn.bias')!.every((x) => x === 0)).toBe(true);
  });
});
