import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildShardsCommand } from './cli.js';
import { DataErrorCode } from './errors.js';
import { openShardSet } from './shard-set.js';
import { encodeDocument } from './tokenizer.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ailo-shards-cli-'));
  await writeFile(join(dir, 'in.jsonl'), '{"body":"One."}\n{"body":"Two."}\n{"body":"Three."}\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('buildShardsCommand', () => {
  it('builds a verified shard set from flags', async () => {
    const out = join(dir, 'out');
    const result = await buildShardsCommand([
      '--input', join(dir, 'in.jsonl'), '--format', 'jsonl', '--field', 'body', '--out', out,
      '--shard-tokens', '4', '--heldout-every', '3', '--quiet',
    ]);
    expect(result?.manifest.documents).toEqual({ train: 2, eval: 1 });
    const set = await openShardSet(out);
    expect(set.digest).toBe(result?.digest);
    const evalShard = set.split('eval')[0]!;
    expect(Array.from(set.readTokens(evalShard.name, 0, evalShard.tokens))).toEqual(encodeDocument('Three.'));
  });

  it.each([
    [['--format', 'jsonl', '--out', 'x'], /--input is required/],
    [['--input', 'x', '--format', 'jsonl'], /--out is required/],
    [['--input', 'x', '--out', 'y', '--format', 'csv'], /--format must be one of text, jsonl, wiki, stackexchange, got "csv"/],
    [['--input', 'x', '--out', 'y', '--format', 'text', '--field', 'body'], /--field applies only to --format jsonl/],
    [['--input', 'x', '--out', 'y', '--format', 'jsonl', '--shard-tokens', '1e6'], /--shard-tokens must be a whole number/],
    [['--input', 'x', '--out', 'y', '--format', 'jsonl', '--bogus'], /Unknown option '--bogus'/],
  ])('rejects %j', async (argv, message) => {
    await expect(buildShardsCommand(argv)).rejects.toMatchObject({ code: DataErrorCode.BAD_OPTION, message: expect.stringMatching(message) });
  });

  it('names a missing input', async () => {
    await expect(
      buildShardsCommand(['--input', join(dir, 'absent.jsonl'), '--format', 'jsonl', '--out', join(dir, 'o2'), '--quiet']),
    ).rejects.toMatchObject({ code: DataErrorCode.INPUT_NOT_FOUND });
  });
});
