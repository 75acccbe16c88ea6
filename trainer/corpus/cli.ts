/**
 * `ailo-trainer shards`: builds token shards from a dump. Also runs on its own: `tsx trainer/corpus/cli.ts --help`.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DUMP_FORMATS, type DumpFormat } from './document.js';
import { DataError, DataErrorCode } from './errors.js';
import { ByteProgress } from './input.js';
import { readDocuments } from './readers.js';
import { buildShards, type BuildShardsResult, DEFAULT_SHARD_TOKENS } from './shard-builder.js';

export const SHARDS_USAGE = `Usage: ailo-trainer shards --input PATH --format FORMAT --out DIR [options]

Tokenizes a dump (GPT-2 BPE) into uint16 token shards with a sha256 manifest.

  --input PATH          a file, or for --format text a folder of .txt/.md files; compressed dumps are read as
                        published, streaming: .gz, .bz2 (multistream too), .xz and .7z archives
  --format FORMAT       text | jsonl | wiki | stackexchange
                          text           each .txt/.md file is one document
                          jsonl          one JSON object a line; the text is in --field
                          wiki           a Wikipedia pages-articles XML dump (e.g. enwiki-...-pages-articles-multistream.xml.bz2)
                          stackexchange  a StackExchange site's .7z archive or its Posts.xml (questions and answers)
  --field NAME          jsonl: the field holding the text (default "text"; a.b reaches into objects)
  --out DIR             where the shards and manifest.json go
  --shard-tokens N      tokens per shard at most (default ${DEFAULT_SHARD_TOKENS})
  --heldout-every N     hold out every Nth document for evaluation (default 0: none)
  --max-documents N     stop after N documents
  --force               replace a shard set already in --out
  --quiet               no progress lines (otherwise one every 2 s on stderr: documents, tokens, bytes read)
  -h, --help            this text
`;

const mib = (n: number): string => (n / 2 ** 20).toFixed(1);

function integerFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const text = value.replace(/_/g, '');
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new DataError(DataErrorCode.BAD_OPTION, `${flag} must be a whole number, got ${JSON.stringify(value)}`);
  }
  return Number(text);
}

/** Parses the flags, builds the shards and prints a summary; throws a `DataError` (with a hint) on bad input. */
export async function buildShardsCommand(argv: readonly string[]): Promise<BuildShardsResult | undefined> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        input: { type: 'string' },
        format: { type: 'string' },
        field: { type: 'string' },
        out: { type: 'string' },
        'shard-tokens': { type: 'string' },
        'heldout-every': { type: 'string' },
        'max-documents': { type: 'string' },
        force: { type: 'boolean' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new DataError(DataErrorCode.BAD_OPTION, `${(err as Error).message}\n\n${SHARDS_USAGE}`);
  }
  if (values.help) {
    process.stdout.write(SHARDS_USAGE);
    return undefined;
  }
  if (!values.input) throw new DataError(DataErrorCode.BAD_OPTION, `--input is required\n\n${SHARDS_USAGE}`);
  if (!values.out) throw new DataError(DataErrorCode.BAD_OPTION, `--out is required\n\n${SHARDS_USAGE}`);
  const format = values.format as DumpFormat | undefined;
  if (!format || !DUMP_FORMATS.includes(format)) {
    throw new DataError(
      DataErrorCode.BAD_OPTION,
      `--format must be one of ${DUMP_FORMATS.join(', ')}${values.format ? `, got ${JSON.stringify(values.format)}` : ''}`,
    );
  }
  if (values.field !== undefined && format !== 'jsonl') {
    throw new DataError(DataErrorCode.BAD_OPTION, '--field applies only to --format jsonl');
  }
  const quiet = values.quiet ?? false;
  const started = performance.now();
  let lastReport = started;
  const bytes = new ByteProgress();
  const report = ({ documents, tokens }: { documents: number; tokens: number }): void => {
    const now = performance.now();
    lastReport = now;
    const rate = tokens / Math.max(1e-3, (now - started) / 1000);
    const share = bytes.total > 0 ? ` (${((100 * bytes.read) / bytes.total).toFixed(1)}%)` : '';
    process.stderr.write(
      `  ${documents} documents, ${tokens} tokens, ${mib(bytes.read)} of ${mib(bytes.total)} MiB read${share}, ${Math.round(rate)} tokens/s\n`,
    );
  };
  let last = { documents: 0, tokens: 0 };
  const result = await buildShards(readDocuments(resolve(values.input), format, { field: values.field, progress: bytes }), {
    outDir: resolve(values.out),
    shardTokens: integerFlag(values['shard-tokens'], '--shard-tokens'),
    heldOutEvery: integerFlag(values['heldout-every'], '--heldout-every'),
    maxDocuments: integerFlag(values['max-documents'], '--max-documents'),
    force: values.force ?? false,
    onProgress: quiet
      ? undefined
      : (progress) => {
          last = progress;
          if (performance.now() - lastReport >= 2000) report(progress);
        },
  });
  if (!quiet) report(last);
  const seconds = (performance.now() - started) / 1000;
  const { manifest } = result;
  if (!quiet) {
    process.stdout.write(
      `wrote ${manifest.shards.length} shard${manifest.shards.length === 1 ? '' : 's'} (${manifest.totalTokens} tokens; ` +
        `${manifest.documents.train} train and ${manifest.documents.eval} held-out documents) to ${result.dir} ` +
        `in ${seconds.toFixed(1)} s (${Math.round(manifest.totalTokens / seconds)} tokens/s)\n` +
        `manifest sha256 ${result.digest}\n`,
    );
  }
  return result;
}

async function main(): Promise<void> {
  try {
    await buildShardsCommand(process.argv.slice(2));
  } catch (err) {
    if (err instanceof DataError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main();
