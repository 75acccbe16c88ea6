/** Documents in, token shards and their manifest out: the same documents always give the same bytes and digests. */
import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { DocumentText } from './document.js';
import { DataError, DataErrorCode } from './errors.js';
import {
  MANIFEST_FILE,
  SHARD_FORMAT,
  type ShardEntry,
  type ShardManifest,
  type ShardSplit,
  serializeShardManifest,
  tokensToBytes,
} from './shard-format.js';
import { encodeDocument, encodeText, EOT_TOKEN, TOKENIZER_NAME, VOCAB_SIZE } from './tokenizer.js';

/** 100 M tokens (200 MB) a shard unless asked otherwise. */
export const DEFAULT_SHARD_TOKENS = 100_000_000;
const STAGING_TOKENS = 1 << 16;
const SHARD_FILE = /^(train|eval)-\d{6}\.bin(\.partial)?$/;

export interface BuildProgress {
  documents: number;
  tokens: number;
}

export interface BuildShardsOptions {
  outDir: string;
  /** Tokens per shard at most (the last shard of each split may hold fewer). */
  shardTokens?: number;
  /** Hold out every Nth document (the Nth, 2Nth, ...) for evaluation; 0 or absent holds out none. */
  heldOutEvery?: number;
  /** Stop after this many documents (a quick sample of a big dump). */
  maxDocuments?: number;
  /** Replace a shard set already in `outDir` instead of refusing. */
  force?: boolean;
  /** Called after each document. */
  onProgress?: (progress: BuildProgress) => void;
}

export interface BuildShardsResult {
  dir: string;
  manifest: ShardManifest;
  /** sha256 of the manifest file: the name of this exact shard set. */
  digest: string;
}

/** Writes one split's shards, cutting a new file every `maxTokens` tokens. */
class SplitWriter {
  readonly entries: ShardEntry[] = [];
  private file: FileHandle | undefined;
  private hash: Hash | undefined;
  private inShard = 0;
  private readonly staging = new Uint16Array(STAGING_TOKENS);
  private staged = 0;

  constructor(
    private readonly dir: string,
    private readonly split: ShardSplit,
    private readonly maxTokens: number,
  ) {}

  async write(ids: readonly number[]): Promise<void> {
    let i = 0;
    while (i < ids.length) {
      if (!this.file) await this.openShard();
      const room = Math.min(this.maxTokens - this.inShard, STAGING_TOKENS - this.staged);
      const take = Math.min(room, ids.length - i);
      for (let k = 0; k < take; k++) this.staging[this.staged + k] = ids[i + k] as number;
      this.staged += take;
      this.inShard += take;
      i += take;
      if (this.staged === STAGING_TOKENS) await this.flush();
      if (this.inShard === this.maxTokens) await this.closeShard();
    }
  }

  async finish(): Promise<void> {
    if (this.file) await this.closeShard();
  }

  /** Closes an open shard file after a failed build; the `.partial` file stays and no manifest is written. */
  async abort(): Promise<void> {
    await this.file?.close();
    this.file = undefined;
  }

  private get shardName(): string {
    return `${this.split}-${String(this.entries.length).padStart(6, '0')}.bin`;
  }

  private async openShard(): Promise<void> {
    this.file = await open(join(this.dir, `${this.shardName}.partial`), 'w');
    this.hash = createHash('sha256');
    this.inShard = 0;
  }

  private async flush(): Promise<void> {
    if (this.staged === 0) return;
    const bytes = tokensToBytes(this.staging.subarray(0, this.staged));
    this.hash!.update(bytes);
    await this.file!.write(bytes);
    this.staged = 0;
  }

  private async closeShard(): Promise<void> {
    await this.flush();
    await this.file!.close();
    const name = this.shardName;
    await rename(join(this.dir, `${name}.partial`), join(this.dir, name));
    this.entries.push({ name, split: this.split, tokens: this.inShard, sha256: this.hash!.digest('hex') });
    this.file = undefined;
    this.hash = undefined;
  }
}

async function prepareOutDir(outDir: string, force: boolean): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const names = await readdir(outDir);
  if (!names.includes(MANIFEST_FILE) && !names.some((n) => SHARD_FILE.test(n))) return;
  if (!force) {
    throw new DataError(
      DataErrorCode.OUTPUT_EXISTS,
      `${outDir} already holds a shard set; pick another folder or pass --force to replace it`,
    );
  }
  for (const name of names) {
    if (name === MANIFEST_FILE || SHARD_FILE.test(name)) await rm(join(outDir, name));
  }
}

function checkOptions(options: BuildShardsOptions): { shardTokens: number; heldOutEvery: number; maxDocuments: number } {
  const shardTokens = options.shardTokens ?? DEFAULT_SHARD_TOKENS;
  if (!Number.isSafeInteger(shardTokens) || shardTokens < 1) {
    throw new DataError(DataErrorCode.BAD_OPTION, `shard size must be a positive integer number of tokens, got ${shardTokens}`);
  }
  const heldOutEvery = options.heldOutEvery ?? 0;
  if (!Number.isSafeInteger(heldOutEvery) || heldOutEvery < 0 || heldOutEvery === 1) {
    throw new DataError(DataErrorCode.BAD_OPTION, `held-out interval must be 0 (none) or an integer of at least 2, got ${heldOutEvery}`);
  }
  const maxDocuments = options.maxDocuments ?? Number.POSITIVE_INFINITY;
  if (maxDocuments !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(maxDocuments) || maxDocuments < 1)) {
    throw new DataError(DataErrorCode.BAD_OPTION, `document limit must be a positive integer, got ${maxDocuments}`);
  }
  return { shardTokens, heldOutEvery, maxDocuments };
}

/**
 * Tokenizes documents into shards under `outDir`: each document is the end-of-text token followed by its tokens,
 * documents run on across shard boundaries, and the manifest is written last (a folder without one is incomplete).
 */
export async function buildShards(
  documents: AsyncIterable<DocumentText> | Iterable<DocumentText>,
  options: BuildShardsOptions,
): Promise<BuildShardsResult> {
  const { shardTokens, heldOutEvery, maxDocuments } = checkOptions(options);
  await prepareOutDir(options.outDir, options.force ?? false);
  const writers = {
    train: new SplitWriter(options.outDir, 'train', shardTokens),
    eval: new SplitWriter(options.outDir, 'eval', shardTokens),
  };
  const counts = { train: 0, eval: 0 };
  let tokens = 0;
  let index = 0;
  let split: ShardSplit = 'train';
  let startsDocument = true;
  try {
    for await (const piece of documents) {
      if (startsDocument) {
        if (index >= maxDocuments) break;
        split = heldOutEvery > 0 && index % heldOutEvery === heldOutEvery - 1 ? 'eval' : 'train';
        counts[split]++;
        index++;
      }
      const ids = startsDocument ? encodeDocument(piece.text) : encodeText(piece.text);
      await writers[split].write(ids);
      tokens += ids.length;
      startsDocument = piece.endOfDocument;
      if (piece.endOfDocument) options.onProgress?.({ documents: index, tokens });
    }
    await writers.train.finish();
    await writers.eval.finish();
  } catch (err) {
    await writers.train.abort();
    await writers.eval.abort();
    throw err;
  }
  if (tokens === 0) {
    throw new DataError(DataErrorCode.BAD_INPUT, 'the input held no documents; check --input and --format');
  }
  const manifest: ShardManifest = {
    format: SHARD_FORMAT,
    tokenizer: TOKENIZER_NAME,
    vocabSize: VOCAB_SIZE,
    eotToken: EOT_TOKEN,
    maxShardTokens: shardTokens,
    documents: counts,
    shards: [...writers.train.entries, ...writers.eval.entries],
    totalTokens: tokens,
  };
  const text = serializeShardManifest(manifest);
  const tmp = join(options.outDir, `${MANIFEST_FILE}.partial`);
  await writeFile(tmp, text);
  await rename(tmp, join(options.outDir, MANIFEST_FILE));
  const digest = createHash('sha256').update(text).digest('hex');
  return { dir: options.outDir, manifest, digest };
}

/** True when `dir` holds a finished shard set (its manifest exists). */
export async function hasShardSet(dir: string): Promise<boolean> {
  try {
    return (await stat(join(dir, MANIFEST_FILE))).isFile();
  } catch {
    return false;
  }
}
