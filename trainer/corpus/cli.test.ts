import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildShardsCommand } from './cli.js';
import { DataErrorCode } from './errors.js';
import { sevenZip } from './input.js';
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
      '--input',
      join(dir, 'in.jsonl'),
      '--format',
      'jsonl',
      '--field',
      'body',
      '--out',
      out,
      '--shard-tokens',
      '4',
      '--heldout-every',
      '3',
      '--quiet',
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
    await expect(buildShardsCommand(argv)).rejects.toMatchObject({
      code: DataErrorCode.BAD_OPTION,
      message: expect.stringMatching(message),
    });
  });

  it("builds from a StackExchange site's .7z archive as published, printing progress in documents and bytes", async () => {
    const posts =
      '<posts>\n' +
      Array.from({ length: 5 }, (_, i) => `  <row Id="${i + 1}" PostTypeId="2" Body="&lt;p&gt;Answer number ${i + 1}.&lt;/p&gt;" />`).join(
        '\n',
      ) +
      '\n</posts>\n';
    const src = join(dir, 'se');
    await mkdir(src);
    await writeFile(join(src, 'Posts.xml'), posts);
    await writeFile(join(src, 'Users.xml'), '<users/>');
    const archive = join(dir, 'site.stackexchange.com.7z');
    await promisify(execFile)(await sevenZip(), ['a', '-bd', archive, 'Posts.xml', 'Users.xml'], { cwd: src });
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (lines.push(String(chunk)), true));
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const result = await buildShardsCommand(['--input', archive, '--format', 'stackexchange', '--out', join(dir, 'se-out')]);
      expect(result?.manifest.documents).toEqual({ train: 5, eval: 0 });
    } finally {
      spy.mockRestore();
      out.mockRestore();
    }
    const bytes = (Buffer.byteLength(posts) / 2 ** 20).toFixed(1);
    expect(lines.at(-1)).toMatch(
      new RegExp(`^  5 documents, \\d+ tokens, ${bytes} of ${bytes} MiB read \\(100\\.0%\\), \\d+ tokens/s\\n$`),
    );
  });

  it('names a missing input', async () => {
    await expect(
      buildShardsCommand(['--input', join(dir, 'absent.jsonl'), '--format', 'jsonl', '--out', join(dir, 'o2'), '--quiet']),
    ).rejects.toMatchObject({ code: DataErrorCode.INPUT_NOT_FOUND });
  });
});
