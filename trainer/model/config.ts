// GPT-2 family model configs in Hugging Face's field names, the network's presets, and the parameter list
// with Hugging Face GPT-2 tensor names and layouts (Conv1D weights stored as [in, out]).
import { TrainerError, TrainerErrorCode } from '../errors.js';

export interface ModelConfig {
  vocab_size: number;
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  n_inner: number;
  layer_norm_epsilon: number;
}

export const PRESETS = {
  'ailo-1b': { vocab_size: 50257, n_positions: 2048, n_embd: 1600, n_layer: 24, n_head: 25, n_inner: 6400, layer_norm_epsilon: 1e-5 },
  'ailo-small': { vocab_size: 50257, n_positions: 512, n_embd: 384, n_layer: 6, n_head: 6, n_inner: 1536, layer_norm_epsilon: 1e-5 },
  'ailo-tiny': { vocab_size: 50257, n_positions: 128, n_embd: 64, n_layer: 2, n_head: 2, n_inner: 256, layer_norm_epsilon: 1e-5 },
} as const satisfies Record<string, ModelConfig>;

export type PresetName = keyof typeof PRESETS;

export function isPresetName(name: string): name is PresetName {
  return Object.hasOwn(PRESETS, name);
}

export function presetConfig(name: string): ModelConfig {
  if (!isPresetName(name)) {
    throw new TrainerError(TrainerErrorCode.UNKNOWN_PRESET, `unknown model preset "${name}" (known: ${Object.keys(PRESETS).join(', ')})`);
  }
  return { ...PRESETS[name] };
}

const INT_FIELDS = ['vocab_size', 'n_positions', 'n_embd', 'n_layer', 'n_head'] as const;

/** Validates a parsed config.json (Hugging Face GPT-2 style; `n_inner: null` means 4 * n_embd). */
export function parseModelConfig(json: unknown): ModelConfig {
  if (typeof json !== 'object' || json === null) throw new TrainerError(TrainerErrorCode.BAD_CONFIG, 'model config must be a JSON object');
  const o = json as Record<string, unknown>;
  const out: Partial<ModelConfig> = {};
  for (const f of INT_FIELDS) {
    const v = o[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new TrainerError(TrainerErrorCode.BAD_CONFIG, `model config field "${f}" must be a positive integer, got ${JSON.stringify(v)}`);
    }
    out[f] = v;
  }
  const inner = o.n_inner ?? null;
  if (inner === null) out.n_inner = 4 * out.n_embd!;
  else if (typeof inner === 'number' && Number.isInteger(inner) && inner > 0) out.n_inner = inner;
  else
    throw new TrainerError(
      TrainerErrorCode.BAD_CONFIG,
      `model config field "n_inner" must be a positive integer or null, got ${JSON.stringify(inner)}`,
    );
  const eps = o.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0))
    throw new TrainerError(TrainerErrorCode.BAD_CONFIG, `model config field "layer_norm_epsilon" must be a positive number`);
  out.layer_norm_epsilon = eps;
  const act = o.activation_function;
  if (act !== undefined && act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') {
    throw new TrainerError(
      TrainerErrorCode.BAD_CONFIG,
      `activation_function "${String(act)}" is not supported (the trainer uses the tanh GELU, "gelu_new")`,
    );
  }
  if (o.tie_word_embeddings === false) throw new TrainerError(TrainerErrorCode.BAD_CONFIG, 'untied word embeddings are not supported');
  const cfg = out as ModelConfig;
  if (cfg.n_embd % cfg.n_head !== 0) {
    throw new TrainerError(TrainerErrorCode.BAD_CONFIG, `n_embd (${cfg.n_embd}) must be divisible by n_head (${cfg.n_head})`);
  }
  return cfg;
}

/** The Hugging Face `config.json` for a `GPT2LMHeadModel` with this config (dropout off, tanh GELU, tied embeddings). */
export function toHfConfigJson(cfg: ModelConfig): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: cfg.vocab_size,
    n_positions: cfg.n_positions,
    n_ctx: cfg.n_positions,
    n_embd: cfg.n_embd,
    n_layer: cfg.n_layer,
    n_head: cfg.n_head,
    n_inner: cfg.n_inner,
    activation_function: 'gelu_new',
    layer_norm_epsilon: cfg.layer_norm_epsilon,
    initializer_range: 0.02,
    resid_pdrop: 0,
    embd_pdrop: 0,
    attn_pdrop: 0,
    bos_token_id: 50256,
    eos_token_id: 50256,
    tie_word_embeddings: true,
    scale_attn_weights: true,
    torch_dtype: 'float32',
  };
}

export type ParamKind = 'embedding' | 'matrix' | 'bias' | 'norm_weight' | 'norm_bias';

export interface ParamSpec {
  name: string;
  shape: number[];
  kind: ParamKind;
  /** Init std: 0.02, or 0.02/sqrt(2 n_layer) for the projections that write into the residual stream. */
  initStd: number;
}

/** Every parameter in Hugging Face GPT-2 order, names and layouts. */
export function paramSpecs(cfg: ModelConfig): ParamSpec[] {
  const C = cfg.n_embd;
  const F = cfg.n_inner;
  const resid = 0.02 / Math.sqrt(2 * cfg.n_layer);
  const specs: ParamSpec[] = [
    { name: 'wte.weight', shape: [cfg.vocab_size, C], kind: 'embedding', initStd: 0.02 },
    { name: 'wpe.weight', shape: [cfg.n_positions, C], kind: 'embedding', initStd: 0.02 },
  ];
  for (let i = 0; i < cfg.n_layer; i++) {
    const h = `h.${i}`;
    specs.push(
      { name: `${h}.ln_1.weight`, shape: [C], kind: 'norm_weight', initStd: 0 },
      { name: `${h}.ln_1.bias`, shape: [C], kind: 'norm_bias', initStd: 0 },
      { name: `${h}.attn.c_attn.weight`, shape: [C, 3 * C], kind: 'matrix', initStd: 0.02 },
      { name: `${h}.attn.c_attn.bias`, shape: [3 * C], kind: 'bias', initStd: 0 },
      { name: `${h}.attn.c_proj.weight`, shape: [C, C], kind: 'matrix', initStd: resid },
      { name: `${h}.attn.c_proj.bias`, shape: [C], kind: 'bias', initStd: 0 },
      { name: `${h}.ln_2.weight`, shape: [C], kind: 'norm_weight', initStd: 0 },
      { name: `${h}.ln_2.bias`, shape: [C], kind: 'norm_bias', initStd: 0 },
      { name: `${h}.mlp.c_fc.weight`, shape: [C, F], kind: 'matrix', initStd: 0.02 },
      { name: `${h}.mlp.c_fc.bias`, shape: [F], kind: 'bias', initStd: 0 },
      { name: `${h}.mlp.c_proj.weight`, shape: [F, C], kind: 'matrix', initStd: resid },
      { name: `${h}.mlp.c_proj.bias`, shape: [C], kind: 'bias', initStd: 0 },
    );
  }
  specs.push(
    { name: 'ln_f.weight', shape: [C], kind: 'norm_weight', initStd: 0 },
    { name: 'ln_f.bias', shape: [C], kind: 'norm_bias', initStd: 0 },
  );
  return specs;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Parameter count with tied input/output embeddings. */
export function paramCount(cfg: ModelConfig): number {
  return paramSpecs(cfg).reduce((n, s) => n + numel(s.shape), 0);
}
