// safetensors files (https://github.com/huggingface/safetensors format): an 8-byte little-endian header length,
// a JSON header of {name: {dtype, shape, data_offsets}}, then the raw little-endian tensor bytes.
// Tensors are read and written one at a time, so a 3 GB AILO-1B file never sits in one buffer.
import { open, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { TrainerError, TrainerErrorCode } from '../errors.js';
import { type ModelConfig, numel, paramSpecs, toHfConfigJson } from '../model/config.js';
import { checkWeights, type Weights } from '../model/weights.js';

export interface TensorFile {
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  metadata: Record<string, string>;
}

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** The metadata of a safetensors file (its header's `__metadata__`), without reading any tensor. */
export async function readSafetensorsMetadata(path: string): Promise<Record<string, string>> {
  return (await readSafetensors(path, { headerOnly: true })).metadata;
}

/** Reads every tensor as float32 (F16 and BF16 are widened); with `headerOnly`, only the metadata. */
export async function readSafetensors(path: string, o: { headerOnly?: boolean } = {}): Promise<TensorFile> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TrainerError(
      TrainerErrorCode.WEIGHTS_MISSING,
      code === 'ENOENT' ? `weights file ${path} does not exist` : `cannot open weights file ${path}: ${code ?? String(e)}`,
    );
  }
  try {
    const size = (await fh.stat()).size;
    if (size < 8)
      throw new TrainerError(TrainerErrorCode.WEIGHTS_TRUNCATED, `weights file ${path} is truncated (${size} bytes, no header)`);
    const lenBuf = Buffer.alloc(8);
    await fh.read(lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > size - 8)
      throw new TrainerError(
        TrainerErrorCode.WEIGHTS_TRUNCATED,
        `weights file ${path} is truncated: header says ${headerLen} bytes, file has ${size - 8} after the length`,
      );
    if (headerLen > 100_000_000)
      throw new TrainerError(TrainerErrorCode.WEIGHTS_MALFORMED, `weights file ${path} has an implausible header length ${headerLen}`);
    const headerBuf = Buffer.alloc(headerLen);
    await fh.read(headerBuf, 0, headerLen, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(headerBuf.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new TrainerError(TrainerErrorCode.WEIGHTS_MALFORMED, `weights file ${path} is not safetensors: its header is not JSON`);
    }
    const dataStart = 8 + headerLen;
    const dataLen = size - dataStart;
    const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
    const tensors: TensorFile['tensors'] = new Map();
    if (o.headerOnly) return { tensors, metadata };
    for (const [name, info] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const { dtype, shape, data_offsets: off } = info as { dtype: string; shape: number[]; data_offsets: [number, number] };
      // Hugging Face GPT-2 files keep the attention mask as a buffer, stored as U8, BOOL or a float: never a weight.
      if (isMaskBuffer(name)) continue;
      const width = DTYPE_BYTES[dtype];
      if (width === undefined)
        throw new TrainerError(
          TrainerErrorCode.WEIGHTS_MALFORMED,
          `tensor "${name}" in ${path} has dtype ${dtype}; only F32, F16 and BF16 are read`,
        );
      if (!Array.isArray(shape) || !Array.isArray(off) || off.length !== 2)
        throw new TrainerError(TrainerErrorCode.WEIGHTS_MALFORMED, `tensor "${name}" in ${path} has a malformed header entry`);
      const n = numel(shape);
      if (off[1] - off[0] !== n * width)
        throw new TrainerError(
          TrainerErrorCode.WEIGHTS_MALFORMED,
          `tensor "${name}" in ${path}: shape [${shape}] does not match its ${off[1] - off[0]} data bytes`,
        );
      if (off[1] > dataLen)
        throw new TrainerError(
          TrainerErrorCode.WEIGHTS_TRUNCATED,
          `weights file ${path} is truncated: tensor "${name}" ends at byte ${off[1]} of the data, the file holds ${dataLen}`,
        );
      const bytes = Buffer.alloc(n * width);
      await fh.read(bytes, 0, bytes.length, dataStart + off[0]);
      let data: Float32Array;
      if (dtype === 'F32') data = new Float32Array(bytes.buffer, bytes.byteOffset, n).slice();
      else {
        const u16 = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
        data = new Float32Array(n);
        if (dtype === 'BF16') {
          const u32 = new Uint32Array(data.buffer);
          for (let i = 0; i < n; i++) u32[i] = u16[i]! << 16;
        } else for (let i = 0; i < n; i++) data[i] = f16ToF32(u16[i]!);
      }
      tensors.set(name, { shape, data });
    }
    return { tensors, metadata };
  } finally {
    await fh.close();
  }
}

/** Writes float32 tensors in the given order. */
export async function writeSafetensors(
  path: string,
  tensors: Iterable<[string, { shape: number[]; data: Float32Array }]>,
  metadata: Record<string, string> = {},
): Promise<void> {
  const list = [...tensors];
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of list) {
    if (t.data.length !== numel(t.shape)) throw new Error(`tensor "${name}": ${t.data.length} values for shape [${t.shape}]`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(headerBytes.length));
  const fh = await open(path, 'w');
  try {
    await fh.write(lenBuf);
    await fh.write(headerBytes);
    for (const [, t] of list) await fh.write(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  } finally {
    await fh.close();
  }
}

/** The attention-mask buffers (`attn.bias`, `attn.masked_bias`) GPT-2 checkpoints carry beside the weights. */
function isMaskBuffer(name: string): boolean {
  return /(^|\.)h\.\d+\.attn\.(bias|masked_bias)$/.test(name);
}

/**
 * Maps Hugging Face GPT-2 checkpoint names onto the trainer's: drops a `transformer.` prefix and the attention-mask
 * buffers; `lm_head.weight` is the tied embedding, so it stands for `wte.weight` when a file keeps only it (what
 * `safetensors.torch.save_model` writes for tied weights) and is dropped otherwise.
 */
export function normalizeGpt2Names(file: TensorFile): TensorFile {
  const tensors: TensorFile['tensors'] = new Map();
  let head: { shape: number[]; data: Float32Array } | undefined;
  for (const [raw, t] of file.tensors) {
    const name = raw.startsWith('transformer.') ? raw.slice('transformer.'.length) : raw;
    if (isMaskBuffer(name)) continue;
    if (name === 'lm_head.weight') {
      head = t;
      continue;
    }
    tensors.set(name, t);
  }
  if (head && !tensors.has('wte.weight')) tensors.set('wte.weight', head);
  return { tensors, metadata: file.metadata };
}

/**
 * Reads model weights from a safetensors file and checks every name and shape against the config: the one check
 * every reader (load, import) goes through, so a matrix stored in another layout (nn.Linear's [out, in] for GPT-2's
 * Conv1D [in, out]) is refused by name and shape, never reinterpreted.
 */
export async function loadWeights(path: string, cfg: ModelConfig): Promise<Weights> {
  const file = normalizeGpt2Names(await readSafetensors(path));
  const w: Weights = new Map();
  const shapes = new Map<string, number[]>();
  for (const [name, t] of file.tensors) {
    w.set(name, t.data);
    shapes.set(name, t.shape);
  }
  try {
    checkWeights(cfg, w, shapes);
  } catch (e) {
    if (e instanceof TrainerError) throw new TrainerError(e.code, `${path}: ${e.message}`);
    throw e;
  }
  return w;
}

/** The metadata key under which a weights file carries its own config (Hugging Face config.json, as JSON text). */
export const CONFIG_METADATA_KEY = 'ailo.config';

/**
 * Saves weights (or gradients) under the config's names and layouts. The config goes into the file's metadata
 * (`ailo.config`), so a file always names its own shapes: files in one folder never share, or overwrite, a config.
 */
export async function saveWeights(path: string, cfg: ModelConfig, w: Weights, metadata: Record<string, string> = {}): Promise<void> {
  checkWeights(cfg, w);
  const specs = paramSpecs(cfg);
  await writeSafetensors(
    path,
    specs.map((s) => [s.name, { shape: s.shape, data: w.get(s.name)! }] as [string, { shape: number[]; data: Float32Array }]),
    { format: 'pt', [CONFIG_METADATA_KEY]: JSON.stringify(toHfConfigJson(cfg)), ...metadata },
  );
}

/** Writes the Hugging Face `config.json` beside a weights file (an export folder's layout, one model per folder). */
export async function writeConfigBeside(weightsPath: string, cfg: ModelConfig): Promise<string> {
  const path = join(dirname(weightsPath), 'config.json');
  await writeFile(path, JSON.stringify(toHfConfigJson(cfg), null, 2) + '\n');
  return path;
}
