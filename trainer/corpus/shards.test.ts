import { readFile, mkdtemp, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DocumentText } from './document.js';
import { DataErrorCode } from './errors.js';
import {
  batchInputsTargets,
  batchRows,
  buildShards,
  listBatchAddresses,
  openShardSet,
  parseShardManifest,
  tokensFromBytes,
  tokensToBytes,
} from './shards.js';
import { encodeDocument, encodeText, EOT_TOKEN } from './tokenizer.js';

let dir: string;
let count = 0;
const fresh = () => join(dir, `set-${count++}`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ailo-shards-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const TEXTS = [
  'The river runs past the old mill and under the stone bridge.',
  'Bread rises because yeast releases carbon dioxide into the dough.',
  'A compiler turns source code into instructions a processor can run.',
  'Tides follow the moon, and the sea rises twice a day on most coasts.',
  'Good maps show scale, direction and a legend that explains the symbols.',
];

const docs = (texts: readonly string[] = TEXTS): DocumentText[] =>
  texts.map((text, i) => ({ source: `doc ${i}`, text, endOfDocument: true }));

describe('buildShards', () => {
  it('writes EOT-prefixed documents as uint16 little-endian tokens, cut into shards of the given size', async () => {
    const out = fresh();
    const { manifest } = await buildShards(docs(), { outDir: out, shardTokens: 20 });
    const expected = TEXTS.flatMap((t) => encodeDocument(t));
    expect(manifest.totalTokens).toBe(expected.length);
    expect(manifest.shards.every((s, i, all) => s.tokens === 20 || i === all.length - 1)).toBe(true);
    expect(manifest.shards.map((s) => s.name).slice(0, 2)).toEqual(['train-000000.bin', 'train-000001.bin']);
    const bytes = Buffer.concat(await Promise.all(manifest.shards.map((s) => readFile(join(out, s.name)))));
    expect(bytes.readUInt16LE(0)).toBe(EOT_TOKEN);
    expect(Array.from(tokensFromBytes(new Uint8Array(bytes)))).toEqual(expected);
  });

  it('gives identical shards and manifest digests for identical input, and different ones for different input', async () => {
    const a = await buildShards(docs(), { outDir: fresh(), shardTokens: 16, heldOutEvery: 3 });
    const b = await buildShards(docs(), { outDir: fresh(), shardTokens: 16, heldOutEvery: 3 });
    expect(b.digest).toBe(a.digest);
    expect(b.manifest).toEqual(a.manifest);
    const changed = [...TEXTS];
    changed[4] = changed[4]!.replace('legend', 'key');
    const c = await buildShards(docs(changed), { outDir: fresh(), shardTokens: 16, heldOutEvery: 3 });
    expect(c.digest).not.toBe(a.digest);
    expect(c.manifest.shards[0]!.sha256).toBe(a.manifest.shards[0]!.sha256);
  });

  it('holds out every Nth document in eval shards', async () => {
    const { manifest } = await buildShards(docs(), { outDir: fresh(), heldOutEvery: 2 });
    expect(manifest.documents).toEqual({ train: 3, eval: 2 });
    const set = await openShardSet(join(dir, `set-${count - 1}`));
    const evalTokens = set.readTokens('eval-000000.bin', 0, set.shard('eval-000000.bin').tokens);
    expect(Array.from(evalTokens)).toEqual([...encodeDocument(TEXTS[1]!), ...encodeDocument(TEXTS[3]!)]);
    expect(set.splitTokens('train') + set.splitTokens('eval')).toBe(manifest.totalTokens);
  });

  it('joins the pieces of one long document under a single EOT', async () => {
    const pieces: DocumentText[] = [
      { source: 'x', text: 'First part of a long', endOfDocument: false },
      { source: 'x', text: ' document, continued.', endOfDocument: true },
      { source: 'y', text: 'Next.', endOfDocument: true },
    ];
    const out = fresh();
    await buildShards(pieces, { outDir: out });
    const set = await openShardSet(out);
    const all = Array.from(set.readTokens('train-000000.bin', 0, set.manifest.totalTokens));
    expect(all).toEqual([
      EOT_TOKEN,
      ...encodeText('First part of a long'),
      ...encodeText(' document, continued.'),
      EOT_TOKEN,
      ...encodeText('Next.'),
    ]);
    expect(set.manifest.documents.train).toBe(2);
  });

  it('refuses to overwrite an existing set unless forced, and rejects bad options and empty input', async () => {
    const out = fresh();
    await buildShards(docs(), { outDir: out, shardTokens: 10 });
    await expect(buildShards(docs(), { outDir: out })).rejects.toMatchObject({ code: DataErrorCode.OUTPUT_EXISTS });
    const forced = await buildShards(docs().slice(0, 1), { outDir: out, force: true });
    expect(forced.manifest.shards).toHaveLength(1);
    await expect(openShardSet(out)).resolves.toBeDefined();
    await expect(buildShards(docs(), { outDir: fresh(), shardTokens: 0 })).rejects.toMatchObject({ code: DataErrorCode.BAD_OPTION });
    await expect(buildShards(docs(), { outDir: fresh(), heldOutEvery: 1 })).rejects.toMatchObject({ code: DataErrorCode.BAD_OPTION });
    await expect(buildShards([], { outDir: fresh() })).rejects.toMatchObject({ code: DataErrorCode.BAD_INPUT });
  });

  it('stops after maxDocuments', async () => {
    const { manifest } = await buildShards(docs(), { outDir: fresh(), maxDocuments: 2 });
    expect(manifest.documents.train).toBe(2);
    expect(manifest.totalTokens).toBe(encodeDocument(TEXTS[0]!).length + encodeDocument(TEXTS[1]!).length);
  });
});

describe('openShardSet', () => {
  let out: string;
  let stream: number[];

  beforeAll(async () => {
    out = fresh();
    await buildShards(docs(), { outDir: out, shardTokens: 25 });
    stream = TEXTS.flatMap((t) => encodeDocument(t));
  });

  it('reads exactly the addressed tokens', async () => {
    const set = await openShardSet(out);
    expect(Array.from(set.readTokens('train-000000.bin', 0, 25))).toEqual(stream.slice(0, 25));
    expect(Array.from(set.readTokens('train-000001.bin', 3, 7))).toEqual(stream.slice(28, 35));
    const last = set.shards.at(-1)!;
    expect(Array.from(set.readTokens(last.name, last.tokens - 1, 1))).toEqual(stream.slice(-1));
  });

  it('rejects reads outside the shard, bad numbers and unknown shards', async () => {
    const set = await openShardSet(out);
    expect(() => set.readTokens('train-000000.bin', 20, 6)).toThrow(
      /tokens \[20, 26\) reach past the end of shard train-000000\.bin, which holds 25 tokens/,
    );
    expect(() => set.readTokens('train-000000.bin', -1, 2)).toThrow(expect.objectContaining({ code: DataErrorCode.OUT_OF_RANGE }));
    expect(() => set.readTokens('train-000000.bin', 0.5, 2)).toThrow(/offset must be a non-negative integer/);
    expect(() => set.readTokens('train-000000.bin', 0, 0)).toThrow(/length must be a positive integer/);
    expect(() => set.readTokens('train-999999.bin', 0, 1)).toThrow(expect.objectContaining({ code: DataErrorCode.UNKNOWN_SHARD }));
  });

  it('cuts batches of B rows of T+1 tokens and splits them into inputs and targets', async () => {
    const set = await openShardSet(out);
    const batch = set.readBatch({ shard: 'train-000001.bin', offset: 2, batchSize: 3, seqLen: 4 });
    const rows = batchRows(batch);
    expect(rows).toEqual([stream.slice(27, 32), stream.slice(32, 37), stream.slice(37, 42)]);
    const { inputs, targets } = batchInputsTargets(batch);
    expect(Array.from(inputs)).toEqual(rows.flatMap((r) => r.slice(0, 4)));
    expect(Array.from(targets)).toEqual(rows.flatMap((r) => r.slice(1)));
    expect(() => set.readBatch({ shard: 'train-000001.bin', offset: 11, batchSize: 3, seqLen: 4 })).toThrow(/reach past the end/);
    expect(set.readBatch({ shard: 'train-000001.bin', offset: 10, batchSize: 3, seqLen: 4 }).tokens).toHaveLength(15);
    expect(() => set.readBatch({ shard: 'train-000001.bin', offset: 0, batchSize: 0, seqLen: 4 })).toThrow(/batch size/);
  });

  it('lists every whole batch of a split', async () => {
    const set = await openShardSet(out);
    const addresses = listBatchAddresses(set.manifest, 'train', 2, 5);
    const perShard = set.shards.map((s) => Math.floor(s.tokens / 12));
    expect(addresses).toHaveLength(perShard.reduce((a, b) => a + b, 0));
    expect(addresses[0]).toEqual({ shard: 'train-000000.bin', offset: 0, batchSize: 2, seqLen: 5 });
    expect(addresses[1]).toEqual({ shard: 'train-000000.bin', offset: 12, batchSize: 2, seqLen: 5 });
    for (const address of addresses) expect(set.readBatch(address).tokens).toHaveLength(12);
    expect(listBatchAddresses(set.manifest, 'eval', 2, 5)).toEqual([]);
    // With a stride of one row, windows overlap: every start that leaves room for a whole batch.
    const overlapping = listBatchAddresses(set.manifest, 'train', 2, 5, 6);
    expect(overlapping).toHaveLength(
      set.shards.filter((s) => s.split === 'train').reduce((n, s) => n + Math.max(0, Math.floor((s.tokens - 12) / 6) + 1), 0),
    );
    expect(overlapping[1]).toEqual({ shard: 'train-000000.bin', offset: 6, batchSize: 2, seqLen: 5 });
    expect(() => listBatchAddresses(set.manifest, 'train', 2, 5, 0)).toThrow(/stride must be a positive integer/);
  });

  it('detects a changed byte, a truncated or missing shard, and a bad manifest', async () => {
    const copy = async () => {
      const target = fresh();
      await buildShards(docs(), { outDir: target, shardTokens: 25 });
      return target;
    };
    const tampered = await copy();
    const path = join(tampered, 'train-000001.bin');
    const bytes = await readFile(path);
    bytes[7] ^= 1;
    await writeFile(path, bytes);
    await expect(openShardSet(tampered)).rejects.toMatchObject({
      code: DataErrorCode.DIGEST_MISMATCH,
      message: expect.stringMatching(/shard train-000001\.bin .* has sha256 [0-9a-f]{64} but the manifest says/),
    });
    // Lazy verification opens, reads untouched shards, and fails on the first read of the changed one.
    const lazy = await openShardSet(tampered, { verify: 'lazy' });
    expect(lazy.readTokens('train-000000.bin', 0, 1)).toHaveLength(1);
    expect(() => lazy.readTokens('train-000001.bin', 0, 1)).toThrow(expect.objectContaining({ code: DataErrorCode.DIGEST_MISMATCH }));

    const truncated = await copy();
    await truncate(join(truncated, 'train-000000.bin'), 10);
    await expect(openShardSet(truncated, { verify: 'none' })).rejects.toThrow(/is 10 bytes but the manifest says 25 tokens/);

    const missing = await copy();
    await unlink(join(missing, 'train-000002.bin'));
    await expect(openShardSet(missing)).rejects.toMatchObject({
      code: DataErrorCode.MISSING_SHARD,
      message: expect.stringMatching(/shard train-000002\.bin named by the manifest is missing/),
    });

    await expect(openShardSet(fresh())).rejects.toMatchObject({ code: DataErrorCode.BAD_MANIFEST });
    const badJson = await copy();
    await writeFile(join(badJson, 'manifest.json'), '{"format":');
    await expect(openShardSet(badJson)).rejects.toThrow(/manifest\.json is not valid JSON/);
  });
});

describe('parseShardManifest', () => {
  const good = {
    format: 'ailo-shards/1',
    tokenizer: 'gpt2',
    vocabSize: 50257,
    eotToken: 50256,
    maxShardTokens: 100,
    documents: { train: 1, eval: 0 },
    shards: [{ name: 'train-000000.bin', split: 'train', tokens: 10, sha256: 'a'.repeat(64) }],
    totalTokens: 10,
  };

  it('accepts a valid manifest', () => {
    expect(parseShardManifest(good)).toEqual(good);
  });

  it.each([
    ['a path in a shard name', { shards: [{ ...good.shards[0], name: '../etc/passwd' }] }, /plain file name/],
    ['a wrong total', { totalTokens: 11 }, /totalTokens is 11 but the shards hold 10/],
    ['another tokenizer', { tokenizer: 'cl100k_base' }, /tokenizer is "cl100k_base"/],
    ['a short digest', { shards: [{ ...good.shards[0], sha256: 'abc' }] }, /64 lowercase hex/],
    ['an unknown split', { shards: [{ ...good.shards[0], split: 'test' }] }, /split must be/],
    ['an oversized shard', { shards: [{ ...good.shards[0], tokens: 101 }], totalTokens: 101 }, /between 1 and maxShardTokens/],
    ['a duplicate shard', { shards: [good.shards[0], good.shards[0]], totalTokens: 20 }, /listed twice/],
  ])('rejects %s', (_name, change, message) => {
    expect(() => parseShardManifest({ ...good, ...change })).toThrow(message);
  });
});

describe('token bytes', () => {
  it('round-trips ids through little-endian bytes, including unaligned views', () => {
    const ids = new Uint16Array([0, 1, 255, 256, 50256, 65535]);
    const bytes = tokensToBytes(ids);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0, 0, 1, 0, 255, 0, 0, 1]);
    const padded = new Uint8Array(bytes.length + 1);
    padded.set(bytes, 1);
    expect(Array.from(tokensFromBytes(padded.subarray(1)))).toEqual(Array.from(ids));
    expect(() => tokensFromBytes(new Uint8Array(3))).toThrow(/odd length/);
  });
});
