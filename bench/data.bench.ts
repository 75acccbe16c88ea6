// Tokenizer and shard-builder throughput on the default corpus's own text (repeated to a few MB).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DocumentText } from '../trainer/corpus/document.js';
import { DEFAULT_CORPUS_DIR } from '../trainer/corpus/default-corpus.js';
import { buildShards, openShardSet } from '../trainer/corpus/shards.js';
import { listTextFiles } from '../trainer/corpus/text-reader.js';
import { encodeText } from '../trainer/corpus/tokenizer.js';

const TARGET_BYTES = 8 << 20;

export async function run(): Promise<void> {
  const texts = await Promise.all((await listTextFiles(DEFAULT_CORPUS_DIR)).map((f) => readFile(f, 'utf8')));
  const corpusBytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
  const repeats = Math.max(1, Math.ceil(TARGET_BYTES / corpusBytes));
  // Vary each copy slightly so the tokenizer's merge cache cannot serve whole repeated documents.
  const docs: DocumentText[] = [];
  for (let r = 0; r < repeats; r++) {
    for (const text of texts) docs.push({ source: '', text: `Copy ${r}.\n\n${text}`, endOfDocument: true });
  }
  const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d.text), 0);
  console.log(`input: ${docs.length} documents, ${(bytes / 1e6).toFixed(1)} MB of English prose`);

  let t0 = performance.now();
  let tokens = 0;
  for (const doc of docs) tokens += encodeText(doc.text).length;
  let seconds = (performance.now() - t0) / 1000;
  console.log(`tokenize (gpt2 BPE):      ${(tokens / seconds / 1e6).toFixed(2)} M tokens/s, ${(bytes / seconds / 1e6).toFixed(1)} MB/s`);

  const dir = await mkdtemp(join(tmpdir(), 'ailo-bench-shards-'));
  try {
    t0 = performance.now();
    const { manifest } = await buildShards(docs, { outDir: dir, shardTokens: 1 << 20, heldOutEvery: 10 });
    seconds = (performance.now() - t0) / 1000;
    console.log(
      `build shards (tokenize + write + sha256): ${(manifest.totalTokens / seconds / 1e6).toFixed(2)} M tokens/s ` +
        `(${manifest.shards.length} shards, ${manifest.totalTokens} tokens, ${seconds.toFixed(2)} s)`,
    );
    t0 = performance.now();
    const set = await openShardSet(dir);
    seconds = (performance.now() - t0) / 1000;
    console.log(`open + verify sha256:     ${(set.manifest.totalTokens / seconds / 1e6).toFixed(1)} M tokens/s`);
    const address = { shard: set.split('train')[0]!.name, offset: 0, batchSize: 8, seqLen: 1024 };
    const reads = 2000;
    t0 = performance.now();
    for (let i = 0; i < reads; i++) set.readBatch({ ...address, offset: (i * 8209) % (set.split('train')[0]!.tokens - 8 * 1025) });
    seconds = (performance.now() - t0) / 1000;
    console.log(`readBatch 8x1025 tokens:  ${Math.round(reads / seconds)} batches/s`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
