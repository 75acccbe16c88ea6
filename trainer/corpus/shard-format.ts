/**
 * The token shard format, browser-safe: a shard is a file of uint16 little-endian GPT-2 token ids; a manifest
 * names every shard with its split, token count and sha256. A batch is addressed by (shard, offset, length) in
 * tokens, so a miner, a verifier and an auditor read exactly the same ids.
 */
import { DataError, DataErrorCode } from './errors.js';
import { EOT_TOKEN, TOKENIZER_NAME, VOCAB_SIZE } from './tokenizer.js';

export const SHARD_FORMAT = 'ailo-shards/1';
export const MANIFEST_FILE = 'manifest.json';

/** `train` shards feed tasks; `eval` shards hold the documents held out to measure loss. */
export type ShardSplit = 'train' | 'eval';

export interface ShardEntry {
  /** File name inside the shard folder, e.g. `train-000000.bin`. */
  name: string;
  split: ShardSplit;
  tokens: number;
  /** Lowercase hex sha256 of the file's bytes. */
  sha256: string;
}

export interface ShardManifest {
  format: typeof SHARD_FORMAT;
  tokenizer: typeof TOKENIZER_NAME;
  vocabSize: number;
  eotToken: number;
  /** The builder's shard size limit; every shard but the last of each split holds exactly this many tokens. */
  maxShardTokens: number;
  documents: Record<ShardSplit, number>;
  shards: ShardEntry[];
  totalTokens: number;
}

const SHARD_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

function bad(message: string): never {
  throw new DataError(DataErrorCode.BAD_MANIFEST, `shard manifest: ${message}`);
}

function count(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) bad(`${what} must be a non-negative integer`);
  return value;
}

/** Checks a parsed manifest (from disk or a peer) field by field and returns it typed. */
export function parseShardManifest(json: unknown): ShardManifest {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) bad('not a JSON object');
  const m = json as Record<string, unknown>;
  if (m.format !== SHARD_FORMAT) bad(`format is ${JSON.stringify(m.format)}, expected "${SHARD_FORMAT}"`);
  if (m.tokenizer !== TOKENIZER_NAME) bad(`tokenizer is ${JSON.stringify(m.tokenizer)}, expected "${TOKENIZER_NAME}"`);
  if (m.vocabSize !== VOCAB_SIZE) bad(`vocabSize is ${JSON.stringify(m.vocabSize)}, expected ${VOCAB_SIZE}`);
  if (m.eotToken !== EOT_TOKEN) bad(`eotToken is ${JSON.stringify(m.eotToken)}, expected ${EOT_TOKEN}`);
  const maxShardTokens = count(m.maxShardTokens, 'maxShardTokens');
  if (maxShardTokens === 0) bad('maxShardTokens must be positive');
  const docs = m.documents as Record<string, unknown> | null;
  if (typeof docs !== 'object' || docs === null) bad('documents must be an object with train and eval counts');
  const documents = { train: count(docs.train, 'documents.train'), eval: count(docs.eval, 'documents.eval') };
  if (!Array.isArray(m.shards)) bad('shards must be an array');
  const names = new Set<string>();
  let total = 0;
  const shards = m.shards.map((raw: unknown, i: number): ShardEntry => {
    if (typeof raw !== 'object' || raw === null) bad(`shards[${i}] is not an object`);
    const s = raw as Record<string, unknown>;
    if (typeof s.name !== 'string' || !SHARD_NAME.test(s.name) || s.name === MANIFEST_FILE) {
      bad(`shards[${i}].name must be a plain file name`);
    }
    if (names.has(s.name)) bad(`shard ${s.name} is listed twice`);
    names.add(s.name);
    if (s.split !== 'train' && s.split !== 'eval') bad(`shards[${i}].split must be "train" or "eval"`);
    const tokens = count(s.tokens, `shards[${i}].tokens`);
    if (tokens === 0 || tokens > maxShardTokens) bad(`shards[${i}].tokens must be between 1 and maxShardTokens`);
    if (typeof s.sha256 !== 'string' || !SHA256_HEX.test(s.sha256)) bad(`shards[${i}].sha256 must be 64 lowercase hex digits`);
    total += tokens;
    return { name: s.name, split: s.split, tokens, sha256: s.sha256 };
  });
  if (m.totalTokens !== total) bad(`totalTokens is ${JSON.stringify(m.totalTokens)} but the shards hold ${total}`);
  return {
    format: SHARD_FORMAT,
    tokenizer: TOKENIZER_NAME,
    vocabSize: VOCAB_SIZE,
    eotToken: EOT_TOKEN,
    maxShardTokens,
    documents,
    shards,
    totalTokens: total,
  };
}

/** The manifest's one canonical byte form: fixed key order, two-space indent, final newline. Its sha256 names the set. */
export function serializeShardManifest(manifest: ShardManifest): string {
  const canonical: ShardManifest = {
    format: manifest.format,
    tokenizer: manifest.tokenizer,
    vocabSize: manifest.vocabSize,
    eotToken: manifest.eotToken,
    maxShardTokens: manifest.maxShardTokens,
    documents: { train: manifest.documents.train, eval: manifest.documents.eval },
    shards: manifest.shards.map((s) => ({ name: s.name, split: s.split, tokens: s.tokens, sha256: s.sha256 })),
    totalTokens: manifest.totalTokens,
  };
  return `${JSON.stringify(canonical, null, 2)}\n`;
}

export { tokensFromBytes, tokensToBytes } from './token-bytes.js';

/**
 * A training batch named by where its tokens lie: `batchSize` rows of `seqLen + 1` consecutive tokens each,
 * laid end to end from `offset` in `shard` (so it covers `batchSize * (seqLen + 1)` tokens). Row r holds the
 * inputs (its first `seqLen` ids) and the targets (its last `seqLen` ids, shifted by one).
 */
export interface BatchAddress {
  shard: string;
  offset: number;
  batchSize: number;
  seqLen: number;
}

/** The tokens of one batch, row-major: `batchSize` rows of `seqLen + 1` ids. */
export interface TokenBatch {
  batchSize: number;
  seqLen: number;
  tokens: Uint16Array;
}

/** How many tokens a batch of this shape covers. */
export function batchLength(batchSize: number, seqLen: number): number {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new DataError(DataErrorCode.OUT_OF_RANGE, `batch size must be a positive integer, got ${batchSize}`);
  }
  if (!Number.isSafeInteger(seqLen) || seqLen < 1) {
    throw new DataError(DataErrorCode.OUT_OF_RANGE, `sequence length must be a positive integer, got ${seqLen}`);
  }
  return batchSize * (seqLen + 1);
}

/** Rows of `seqLen + 1` ids, the shape `ailo-trainer grad --tokens` reads as `{"tokens": rows}`. */
export function batchRows(batch: TokenBatch): number[][] {
  const width = batch.seqLen + 1;
  const rows: number[][] = [];
  for (let r = 0; r < batch.batchSize; r++) rows.push(Array.from(batch.tokens.subarray(r * width, (r + 1) * width)));
  return rows;
}

/** Splits a batch into model inputs and next-token targets, each `batchSize * seqLen` ids, row-major. */
export function batchInputsTargets(batch: TokenBatch): { inputs: Int32Array; targets: Int32Array } {
  const { batchSize, seqLen, tokens } = batch;
  const inputs = new Int32Array(batchSize * seqLen);
  const targets = new Int32Array(batchSize * seqLen);
  for (let r = 0; r < batchSize; r++) {
    const row = tokens.subarray(r * (seqLen + 1), (r + 1) * (seqLen + 1));
    inputs.set(row.subarray(0, seqLen), r * seqLen);
    targets.set(row.subarray(1), r * seqLen);
  }
  return { inputs, targets };
}

/**
 * Every whole, non-overlapping batch of this shape in a split, shard by shard in manifest order: the fixed list a
 * coordinator draws tasks from and an evaluator walks. A shard's tail shorter than one batch is not used.
 */
export function listBatchAddresses(
  manifest: ShardManifest,
  split: ShardSplit,
  batchSize: number,
  seqLen: number,
  /** Tokens between consecutive batch starts; the default (one whole batch) makes batches disjoint. */
  stride = batchLength(batchSize, seqLen),
): BatchAddress[] {
  const length = batchLength(batchSize, seqLen);
  if (!Number.isSafeInteger(stride) || stride < 1) throw new RangeError(`stride must be a positive integer, got ${stride}`);
  const out: BatchAddress[] = [];
  for (const shard of manifest.shards) {
    if (shard.split !== split) continue;
    for (let offset = 0; offset + length <= shard.tokens; offset += stride) {
      out.push({ shard: shard.name, offset, batchSize, seqLen });
    }
  }
  return out;
}
