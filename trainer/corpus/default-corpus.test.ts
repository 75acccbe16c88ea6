import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CORPUS_HELD_OUT_EVERY, defaultCorpusDigest, defaultCorpusShards } from './default-corpus.js';
import { listTextFiles } from './text-reader.js';
import { decodeTokens } from './tokenizer.js';

let cache: string;

beforeAll(async () => {
  cache = await mkdtemp(join(tmpdir(), 'ailo-default-corpus-'));
});

afterAll(async () => {
  await rm(cache, { recursive: true, force: true });
});

describe('defaultCorpusShards', () => {
  it('builds the shipped corpus into train and held-out shards, keyed by the corpus digest', async () => {
    const set = await defaultCorpusShards(cache);
    const digest = await defaultCorpusDigest();
    expect(set.dir).toBe(join(cache, `default-corpus-${digest.slice(0, 16)}`));
    const files = await listTextFiles(join(import.meta.dirname, '../../genesis/corpus'));
    const held = Math.floor(files.length / DEFAULT_CORPUS_HELD_OUT_EVERY);
    expect(set.manifest.documents).toEqual({ train: files.length - held, eval: held });
    expect(set.splitTokens('eval')).toBeGreaterThan(2_000);
    expect(set.splitTokens('train')).toBeGreaterThan(5 * set.splitTokens('eval'));
    // The first held-out document is the sixth corpus file, whole.
    const evalShard = set.split('eval')[0]!;
    const sixth = (await readFile(files[DEFAULT_CORPUS_HELD_OUT_EVERY - 1]!, 'utf8')).slice(0, 200);
    const head = decodeTokens(set.readTokens(evalShard.name, 1, 40));
    expect(sixth.startsWith(head)).toBe(true);
  });

  it('reuses a cached build and rebuilds a damaged one', async () => {
    const first = await defaultCorpusShards(cache);
    await writeFile(join(first.dir, 'marker'), 'kept');
    const again = await defaultCorpusShards(cache);
    expect(again.digest).toBe(first.digest);
    await expect(readFile(join(again.dir, 'marker'), 'utf8')).resolves.toBe('kept');

    const shard = join(first.dir, first.shards[0]!.name);
    const bytes = await readFile(shard);
    bytes[0] ^= 0xff;
    await writeFile(shard, bytes);
    const rebuilt = await defaultCorpusShards(cache);
    expect(rebuilt.digest).toBe(first.digest);
    await expect(readFile(join(rebuilt.dir, 'marker'), 'utf8')).rejects.toThrow();
  });

  it('keys the cache by content: a changed corpus gets a new folder', async () => {
    const corpusDir = await mkdtemp(join(tmpdir(), 'ailo-corpus-'));
    try {
      for (let i = 0; i < 7; i++) await writeFile(join(corpusDir, `doc-${i}.md`), `Document number ${i} talks about item ${i}.`);
      const a = await defaultCorpusShards(cache, { corpusDir });
      await writeFile(join(corpusDir, 'doc-3.md'), 'A changed document.');
      const b = await defaultCorpusShards(cache, { corpusDir });
      expect(b.dir).not.toBe(a.dir);
      expect(b.digest).not.toBe(a.digest);
      expect(a.manifest.documents).toEqual({ train: 6, eval: 1 });
    } finally {
      await rm(corpusDir, { recursive: true, force: true });
    }
  });
});
