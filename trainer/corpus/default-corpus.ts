/**
 * The default corpus (genesis/corpus/, written by the project, CC0) as a shard set, built once per corpus digest
 * into a cache folder, so a devnet trains out of the box.
 *
 * Held-out split: the corpus files are taken in code-point order of their paths and every
 * `DEFAULT_CORPUS_HELD_OUT_EVERY`th file (the 6th, 12th, ...) goes whole into the `eval` shards; the rest are `train`.
 */
import { createHash } from 'node:crypto';
import { readFile, rename, rm } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataError } from './errors.js';
import { buildShards, hasShardSet } from './shard-builder.js';
import { openShardSet, type ShardSet } from './shard-set.js';
import { listTextFiles, readTextDocuments } from './text-reader.js';

export const DEFAULT_CORPUS_DIR = fileURLToPath(new URL('../../genesis/corpus/', import.meta.url));
export const DEFAULT_CORPUS_SHARD_TOKENS = 16_384;
export const DEFAULT_CORPUS_HELD_OUT_EVERY = 6;
// Bump when the tokenizer, shard layout or split rule changes, so old caches are not reused.
const BUILD_VERSION = 'ailo-default-corpus/1';

export interface DefaultCorpusOptions {
  /** Another folder of .txt/.md files to treat as the corpus (tests). */
  corpusDir?: string;
}

/** sha256 over the build rule and every corpus file's relative path and bytes: the cache key of the shard set. */
export async function defaultCorpusDigest(corpusDir: string = DEFAULT_CORPUS_DIR): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`${BUILD_VERSION}\nshardTokens=${DEFAULT_CORPUS_SHARD_TOKENS}\nheldOutEvery=${DEFAULT_CORPUS_HELD_OUT_EVERY}\n`);
  for (const file of await listTextFiles(corpusDir)) {
    const bytes = await readFile(file);
    hash.update(`${relative(corpusDir, file).split(sep).join('/')}\0${bytes.length}\0`);
    hash.update(bytes);
  }
  return hash.digest('hex');
}

/**
 * The default corpus's shard set under `cacheDir` (e.g. `.ailo/cache`), building it first if this corpus version
 * has no complete, intact copy there. `set.split('train')` feeds training, `set.split('eval')` is held out.
 */
export async function defaultCorpusShards(cacheDir: string, options: DefaultCorpusOptions = {}): Promise<ShardSet> {
  const corpusDir = options.corpusDir ?? DEFAULT_CORPUS_DIR;
  const digest = await defaultCorpusDigest(corpusDir);
  const dir = join(cacheDir, `default-corpus-${digest.slice(0, 16)}`);
  if (await hasShardSet(dir)) {
    try {
      return await openShardSet(dir);
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
      // A damaged cache is rebuilt rather than trusted.
      await rm(dir, { recursive: true, force: true });
    }
  }
  const staging = `${dir}.tmp-${process.pid}-${Date.now()}`;
  try {
    await buildShards(readTextDocuments(corpusDir), {
      outDir: staging,
      shardTokens: DEFAULT_CORPUS_SHARD_TOKENS,
      heldOutEvery: DEFAULT_CORPUS_HELD_OUT_EVERY,
    });
    await publish(staging, dir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return openShardSet(dir);
}

/** Moves a finished build into place; if another process got there first, its identical copy stands. */
async function publish(staging: string, dir: string): Promise<void> {
  try {
    await rename(staging, dir);
  } catch (err) {
    if (await hasShardSet(dir)) return;
    // A leftover folder without a manifest is no shard set: clear it and try once more.
    await rm(dir, { recursive: true, force: true });
    try {
      await rename(staging, dir);
    } catch {
      throw err;
    }
  }
}
