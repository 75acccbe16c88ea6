/**
 * The `ailo-trainer` commands: initialize, train, evaluate and sample AILO models, and compute the gradient of an addressed
 * batch (what verifiers and auditors recompute). Run `ailo-trainer --help`.
 */
import { access, constants, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DataError } from './corpus/errors.js';
import { buildShardsCommand, SHARDS_USAGE } from './corpus/cli.js';
import { defaultCorpusShards } from './corpus/default-corpus.js';
import { openShardSet } from './corpus/shard-set.js';
import { decodeTokens, encodeText } from './corpus/tokenizer.js';
import { TrainerError, TrainerErrorCode } from './errors.js';
import { isPresetName, type ModelConfig, paramCount, parseModelConfig, presetConfig } from './model/config.js';
import { initWeights, type Weights } from './model/weights.js';
import { ForwardSession, GradientSession, openTrainSession } from './runtime/model-session.js';
import { parseProvider } from './runtime/provider.js';
import { makeSampler } from './runtime/sampling.js';
import { tokenBatch } from './runtime/tokens.js';
import { BatchStream, learningRate } from './training/batches.js';
import { CONFIG_METADATA_KEY, loadWeights, readSafetensorsMetadata, saveWeights, writeConfigBeside } from './weights/safetensors.js';
import { DEFAULT_ADAMW } from './onnx/graphs.js';

const USAGE = `Usage: ailo-trainer <command> [options]

Commands:
  init      --config PRESET|config.json [--seed N] --out W.safetensors
            GPT-2 initialized weights
  train     [--config ...] [--weights W.safetensors] [--data SHARD_DIR] [--steps N] [--batch B] [--seq T]
            [--lr X] [--provider cpu|webgpu|cuda] [--eval-batches N] [--seed N] --out W2.safetensors
            local AdamW training with a progress line (step, loss, tokens/s); data defaults to the default corpus
  eval      [--config ...] --weights W.safetensors [--data SHARD_DIR] [--batches N] [--batch B] [--seq T] [--provider P]
            loss and perplexity on the held-out (eval) split
  grad      [--config config.json] --weights W.safetensors --tokens FILE --out G.safetensors [--provider P]
            FILE is JSON {"tokens": [[ids...], ...]}, each row T+1 ids; prints the mean cross-entropy and writes
            float32 gradients under the weights' names
  generate  [--config ...] --weights W.safetensors --prompt TEXT [--tokens N] [--temperature X] [--top-k K]
            [--seed N] [--provider P]      sampling with a KV cache
  export    [--config ...] --weights W.safetensors --out DIR
            DIR/model.safetensors and DIR/config.json, loadable by transformers' GPT2LMHeadModel
  import    --from FILE|DIR [--config config.json] --out W.safetensors
            GPT-2 safetensors (Hugging Face names, F32/F16/BF16) into the trainer's float32 layout
  shards    build token shards from a dump (see \`ailo-trainer shards --help\`)

--config takes a preset (ailo-1b, ailo-small, ailo-tiny) or a Hugging Face config.json; without it the config
stored in --weights is used (every file this tool writes carries its own), else a config.json beside it (the
Hugging Face layout, as export writes). --out folders are created; a command checks that it can write --out
before it starts its work.
`;

function fail(message: string): never {
  throw new TrainerError(TrainerErrorCode.BAD_ARGUMENT, message);
}

function intFlag(v: string | undefined, flag: string, def: number, min = 1): number {
  if (v === undefined) return def;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n < min) fail(`--${flag} must be a whole number >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

function numFlag(v: string | undefined, flag: string, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) fail(`--${flag} must be a non-negative number, got ${JSON.stringify(v)}`);
  return n;
}

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    fail(`${what} ${path} cannot be read (does it exist?)`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    fail(`${what} ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * The model config of a command: `config` (a preset name or a config.json), else the one stored in the safetensors
 * file's metadata, else a config.json beside it. Throws a TrainerError (BAD_ARGUMENT) saying what to give.
 */
export async function resolveConfig(config: string | undefined, weights: string | undefined): Promise<ModelConfig> {
  if (config !== undefined) {
    if (isPresetName(config)) return presetConfig(config);
    if (!config.endsWith('.json')) return presetConfig(config);
    return parseModelConfig(await readJson(config, 'config file'));
  }
  if (weights === undefined) fail('--config is required (a preset name or a config.json)');
  const own = (await readSafetensorsMetadata(weights))[CONFIG_METADATA_KEY];
  if (own !== undefined) {
    try {
      return parseModelConfig(JSON.parse(own));
    } catch (e) {
      fail(`the config stored in ${weights} is not valid (${(e as Error).message}): give --config`);
    }
  }
  const beside = join(dirname(weights), 'config.json');
  try {
    await stat(beside);
  } catch {
    fail(`no --config given, ${weights} stores no config and there is no config.json beside it: give --config`);
  }
  return parseModelConfig(await readJson(beside, 'config file'));
}

/**
 * Makes sure `out` can be written before a command does its work: creates its folder, and refuses an `out` that is
 * a folder or lies in one this process cannot write to (so a long `train` never ends in ENOENT or EACCES).
 */
async function prepareOut(out: string): Promise<void> {
  const folder = dirname(resolve(out));
  try {
    await mkdir(folder, { recursive: true });
  } catch (e) {
    fail(`cannot create the folder of --out ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if ((await stat(out).catch(() => undefined))?.isDirectory())
    fail(`--out ${out} is a folder: name a file inside it, e.g. ${join(out, 'model.safetensors')}`);
  try {
    await access(folder, constants.W_OK);
  } catch {
    fail(`cannot write to ${folder} (the folder of --out ${out})`);
  }
}

function required(values: Record<string, unknown>, flag: string): string {
  const v = values[flag];
  if (typeof v !== 'string') fail(`--${flag} is required`);
  return v;
}

const COMMON = {
  config: { type: 'string' },
  weights: { type: 'string' },
  out: { type: 'string' },
  provider: { type: 'string' },
  seed: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parse<O extends Record<string, { type: 'string' | 'boolean'; short?: string }>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options: { ...COMMON, ...options }, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (e) {
    fail(`${(e as Error).message.split('\n')[0]} (see ailo-trainer --help)`);
  }
}

const log = (line: string): void => void process.stdout.write(line + '\n');

async function cmdInit(argv: string[]): Promise<void> {
  const v = parse(argv, {});
  const out = required(v, 'out');
  const cfg = await resolveConfig(v.config as string | undefined, undefined);
  const seed = intFlag(v.seed as string | undefined, 'seed', 0, 0);
  await prepareOut(out);
  await saveWeights(out, cfg, initWeights(cfg, seed), { seed: String(seed) });
  log(`wrote ${out} (${paramCount(cfg).toLocaleString('en-US')} parameters, seed ${seed}; its config is stored in the file)`);
}

async function openData(dir: string | undefined) {
  return dir ? openShardSet(dir) : defaultCorpusShards(resolve('.ailo/cache'));
}

async function evalLoss(fs: ForwardSession, stream: BatchStream, n: number): Promise<number> {
  const batches = stream.first(n);
  let sum = 0;
  for (const b of batches) sum += await fs.loss(b.batch);
  return sum / batches.length;
}

async function cmdTrain(argv: string[]): Promise<void> {
  const v = parse(argv, {
    data: { type: 'string' },
    steps: { type: 'string' },
    batch: { type: 'string' },
    seq: { type: 'string' },
    lr: { type: 'string' },
    'eval-batches': { type: 'string' },
  });
  const out = required(v, 'out');
  const provider = parseProvider((v.provider as string | undefined) ?? 'cpu');
  const weightsPath = v.weights as string | undefined;
  const cfg = await resolveConfig(v.config as string | undefined, weightsPath);
  const steps = intFlag(v.steps as string | undefined, 'steps', 200);
  const B = intFlag(v.batch as string | undefined, 'batch', 8);
  const T = intFlag(v.seq as string | undefined, 'seq', Math.min(128, cfg.n_positions));
  if (T > cfg.n_positions) fail(`--seq ${T} exceeds the model's n_positions ${cfg.n_positions}`);
  const lr = numFlag(v.lr as string | undefined, 'lr', 3e-3);
  const evalBatches = intFlag(v['eval-batches'] as string | undefined, 'eval-batches', 4, 0);
  await prepareOut(out);
  const weights: Weights = weightsPath
    ? await loadWeights(weightsPath, cfg)
    : initWeights(cfg, intFlag(v.seed as string | undefined, 'seed', 0, 0));
  const set = await openData(v.data as string | undefined);
  const train = new BatchStream(set, 'train', cfg, B, T);
  const held = evalBatches > 0 && set.splitTokens('eval') > 0 ? new BatchStream(set, 'eval', cfg, B, T) : undefined;
  const fs = new ForwardSession(cfg, provider);
  if (held) {
    await fs.setWeights(weights);
    log(`held-out loss before: ${(await evalLoss(fs, held, evalBatches)).toFixed(4)}`);
  }
  const session = await openTrainSession(cfg, provider, { batch: B, seq: T, weights, adamw: DEFAULT_ADAMW });
  const tty = process.stdout.isTTY;
  const t0 = performance.now();
  let last = 0;
  // Up to 10 steps a run where the session takes many (cuda's Loop: the state stays on the device through them).
  for (let s = 0; s < steps;) {
    const n = Math.min(session.stepsPerRun, 10, steps - s);
    const batches = Array.from({ length: n }, () => train.take().batch);
    const rates = Array.from({ length: n }, (_, k) => learningRate(s + k, steps, lr));
    for (const r of await session.stepMany(batches, rates)) {
      s++;
      last = r.loss;
      const secs = (performance.now() - t0) / 1000;
      const line = `step ${s}/${steps}  loss ${r.loss.toFixed(4)}  grad-norm ${r.gradNorm.toFixed(3)}  ${Math.round((s * B * T) / secs)} tokens/s`;
      if (tty) process.stdout.write(`\r${line}   `);
      else if (s % 10 === 0 || s === 1 || s === steps) log(line);
    }
  }
  if (tty) process.stdout.write('\n');
  const trained = await session.weights();
  await session.dispose();
  await saveWeights(out, cfg, trained, { steps: String(steps) });
  if (held) {
    await fs.setWeights(trained);
    log(`held-out loss after: ${(await evalLoss(fs, held, evalBatches)).toFixed(4)}`);
  }
  await fs.dispose();
  log(`final training loss ${last.toFixed(4)}; wrote ${out}`);
}

async function cmdEval(argv: string[]): Promise<void> {
  const v = parse(argv, { data: { type: 'string' }, batches: { type: 'string' }, batch: { type: 'string' }, seq: { type: 'string' } });
  const weightsPath = required(v, 'weights');
  const provider = parseProvider((v.provider as string | undefined) ?? 'cpu');
  const cfg = await resolveConfig(v.config as string | undefined, weightsPath);
  const B = intFlag(v.batch as string | undefined, 'batch', 8);
  const T = intFlag(v.seq as string | undefined, 'seq', Math.min(128, cfg.n_positions));
  const n = intFlag(v.batches as string | undefined, 'batches', 8);
  const weights = await loadWeights(weightsPath, cfg);
  const held = new BatchStream(await openData(v.data as string | undefined), 'eval', cfg, B, T);
  const fs = new ForwardSession(cfg, provider);
  await fs.setWeights(weights);
  const loss = await evalLoss(fs, held, n);
  await fs.dispose();
  log(
    `eval loss ${loss.toFixed(4)}  perplexity ${Math.exp(loss).toFixed(2)}  (${Math.min(n, held.addresses.length)} batches of ${B}x${T})`,
  );
}

async function cmdGrad(argv: string[]): Promise<void> {
  const v = parse(argv, { tokens: { type: 'string' } });
  const weightsPath = required(v, 'weights');
  const tokensPath = required(v, 'tokens');
  const out = required(v, 'out');
  const provider = parseProvider((v.provider as string | undefined) ?? 'cpu');
  const cfg = await resolveConfig(v.config as string | undefined, weightsPath);
  const json = (await readJson(tokensPath, 'tokens file')) as { tokens?: unknown };
  await prepareOut(out);
  const rows = json?.tokens;
  if (!Array.isArray(rows) || !rows.every((r) => Array.isArray(r))) fail(`tokens file ${tokensPath} must be {"tokens": [[ids...], ...]}`);
  const batch = tokenBatch(cfg, rows as number[][]);
  const weights = await loadWeights(weightsPath, cfg);
  const gs = await GradientSession.create(cfg, provider, batch.batch, batch.seq);
  const { loss, grads } = await gs.run(weights, batch);
  await gs.dispose();
  await saveWeights(out, cfg, grads, { loss: String(loss) });
  log(`loss ${loss}`);
  log(`wrote gradients of ${grads.size} tensors to ${out}`);
}

async function cmdGenerate(argv: string[]): Promise<void> {
  const v = parse(argv, {
    prompt: { type: 'string' },
    tokens: { type: 'string' },
    temperature: { type: 'string' },
    'top-k': { type: 'string' },
  });
  const weightsPath = required(v, 'weights');
  const prompt = required(v, 'prompt');
  const provider = parseProvider((v.provider as string | undefined) ?? 'cpu');
  const cfg = await resolveConfig(v.config as string | undefined, weightsPath);
  const ids = encodeText(prompt);
  if (ids.length === 0) fail('--prompt is empty');
  const bad = ids.find((i) => i >= cfg.vocab_size);
  if (bad !== undefined)
    throw new TrainerError(TrainerErrorCode.TOKEN_OUT_OF_RANGE, `prompt token id ${bad} is out of range (vocab_size ${cfg.vocab_size})`);
  const fs = new ForwardSession(cfg, provider);
  await fs.setWeights(await loadWeights(weightsPath, cfg));
  const sampler = makeSampler({
    temperature: numFlag(v.temperature as string | undefined, 'temperature', 0.8),
    topK: intFlag(v['top-k'] as string | undefined, 'top-k', 40, 0),
    seed: intFlag(v.seed as string | undefined, 'seed', 1, 0),
  });
  const out = await fs.generate(ids, intFlag(v.tokens as string | undefined, 'tokens', 50), sampler);
  await fs.dispose();
  log(prompt + decodeTokens(out));
}

async function cmdExport(argv: string[]): Promise<void> {
  const v = parse(argv, {});
  const weightsPath = required(v, 'weights');
  const outDir = required(v, 'out');
  const cfg = await resolveConfig(v.config as string | undefined, weightsPath);
  await mkdir(outDir, { recursive: true });
  const target = join(outDir, 'model.safetensors');
  await saveWeights(target, cfg, await loadWeights(weightsPath, cfg));
  await writeConfigBeside(target, cfg);
  log(`wrote ${target} and ${join(outDir, 'config.json')}`);
}

async function cmdImport(argv: string[]): Promise<void> {
  const v = parse(argv, { from: { type: 'string' } });
  const from = required(v, 'from');
  const out = required(v, 'out');
  let file = from;
  try {
    if ((await stat(from)).isDirectory()) file = join(from, 'model.safetensors');
  } catch {
    throw new TrainerError(TrainerErrorCode.WEIGHTS_MISSING, `${from} does not exist`);
  }
  const cfg = await resolveConfig(v.config as string | undefined, file);
  await prepareOut(out);
  const w = await loadWeights(file, cfg);
  await saveWeights(out, cfg, w);
  log(`imported ${w.size} tensors (${paramCount(cfg).toLocaleString('en-US')} parameters) into ${out}`);
}

const COMMANDS: Record<string, (argv: string[]) => Promise<void>> = {
  init: cmdInit,
  train: cmdTrain,
  eval: cmdEval,
  grad: cmdGrad,
  generate: cmdGenerate,
  export: cmdExport,
  import: cmdImport,
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(USAGE);
    return cmd === undefined ? 1 : 0;
  }
  try {
    if (cmd === 'shards') {
      if (rest.includes('-h') || rest.includes('--help')) process.stdout.write(SHARDS_USAGE);
      else await buildShardsCommand(rest);
      return 0;
    }
    const run = COMMANDS[cmd];
    if (!run) fail(`unknown command "${cmd}" (commands: ${Object.keys(COMMANDS).join(', ')}, shards)`);
    if (rest.includes('-h') || rest.includes('--help')) {
      process.stdout.write(USAGE);
      return 0;
    }
    await run(rest);
    return 0;
  } catch (e) {
    if (e instanceof TrainerError || e instanceof DataError) {
      process.stderr.write(`ailo-trainer ${cmd}: error: ${e.message}\n`);
    } else {
      const err = e as Error;
      process.stderr.write(`ailo-trainer ${cmd}: error: ${err?.message ?? String(e)}\n`);
      if (process.env.AILO_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
    }
    return 1;
  }
}
