import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DocumentText } from './document.js';
import { DataErrorCode } from './errors.js';
import { ByteProgress, sevenZip } from './input.js';
import { readDocuments } from './readers.js';
import { readTextDocuments } from './text-reader.js';
import { encodeText } from './tokenizer.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ailo-readers-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const run = promisify(execFile);

/** `content` compressed by 7-Zip as a single-file `bzip2` or `xz` stream. */
async function compress(type: 'bzip2' | 'xz', name: string, content: string): Promise<Buffer> {
  const source = await file(`src/${name}`, content);
  const out = `${source}.${type}`;
  await rm(out, { force: true });
  await run(await sevenZip(), ['a', '-bd', `-t${type}`, out, source]);
  return readFile(out);
}

/** A `.7z` archive holding `files` (name -> content) at its root. */
async function archive(name: string, files: Record<string, string>): Promise<string> {
  const src = join(dir, `src-${name}`);
  for (const [entry, content] of Object.entries(files)) await file(join(`src-${name}`, entry), content);
  const out = join(dir, name);
  await run(await sevenZip(), ['a', '-bd', out, ...Object.keys(files)], { cwd: src });
  return out;
}

/** How many 7-Zip processes this test process has running. */
async function sevenZipProcesses(): Promise<number> {
  const { stdout } = await run('ps', ['-o', 'comm=', '--ppid', String(process.pid)]).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter((l) => /^7z/.test(l.trim())).length;
}

async function collect(docs: AsyncIterable<DocumentText>): Promise<DocumentText[]> {
  const out: DocumentText[] = [];
  for await (const doc of docs) out.push(doc);
  return out;
}

async function file(name: string, content: string | Uint8Array): Promise<string> {
  const path = join(dir, name);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, content);
  return path;
}

describe('text and Markdown folders', () => {
  it('reads .txt and .md files in path order, one document each, skipping hidden and other files', async () => {
    await file('corpus/b.md', '# Bees\n\nBees make honey.\n');
    await file('corpus/a.txt', '\ufeffApples grow on trees.');
    await file('corpus/sub/c.markdown', 'Cats sleep.');
    await file('corpus/notes.json', '{"not": "text"}');
    await file('corpus/.hidden/d.txt', 'hidden');
    await file('corpus/empty.txt', '  \n');
    const docs = await collect(readDocuments(join(dir, 'corpus'), 'text'));
    expect(docs.map((d) => d.text)).toEqual(['Apples grow on trees.', '# Bees\n\nBees make honey.\n', 'Cats sleep.']);
    expect(docs.every((d) => d.endOfDocument)).toBe(true);
    expect(docs[1]!.source).toBe(join(dir, 'corpus/b.md'));
  });

  it('streams a large file in pieces cut at paragraph breaks, tokenizing exactly as the whole text', async () => {
    const paragraphs = Array.from({ length: 60 }, (_, i) => `Paragraph ${i} says something  about item ${i * 7}.`);
    const text = paragraphs.join('\n\n') + '\n';
    const path = await file('big/long.txt', text);
    const pieces = await collect(readTextDocuments(path, { pieceChars: 300 }));
    expect(pieces.length).toBeGreaterThan(5);
    expect(pieces.slice(0, -1).every((p) => !p.endOfDocument)).toBe(true);
    expect(pieces.at(-1)!.endOfDocument).toBe(true);
    expect(pieces.map((p) => p.text).join('')).toBe(text);
    expect(pieces.slice(1).every((p) => p.text.startsWith('\n\n'))).toBe(true);
    expect(pieces.flatMap((p) => encodeText(p.text))).toEqual(encodeText(text));
  });

  it('reads gzipped text files', async () => {
    await file('gz/one.txt.gz', gzipSync('Compressed words.'));
    const docs = await collect(readDocuments(join(dir, 'gz'), 'text'));
    expect(docs.map((d) => d.text)).toEqual(['Compressed words.']);
  });

  it('fails clearly for a missing path or a folder without text files', async () => {
    await expect(collect(readDocuments(join(dir, 'nope'), 'text'))).rejects.toMatchObject({
      code: DataErrorCode.INPUT_NOT_FOUND,
    });
    await file('notext/x.csv', 'a,b');
    await expect(collect(readDocuments(join(dir, 'notext'), 'text'))).rejects.toThrow(/no \.txt or \.md files/);
  });
});

describe('JSONL', () => {
  it('reads the text field of each line, skipping blank lines and empty texts', async () => {
    const path = await file(
      'docs.jsonl',
      '{"id":1,"text":"First doc."}\r\n\n{"id":2,"text":"Second\\ndoc with \\"quotes\\" and \\u00e9."}\n{"id":3,"text":""}\n',
    );
    const docs = await collect(readDocuments(path, 'jsonl'));
    expect(docs.map((d) => d.text)).toEqual(['First doc.', 'Second\ndoc with "quotes" and é.']);
    expect(docs[1]!.source).toBe(`${path}:3`);
  });

  it('reads a configurable field, including a dotted path, from a gzipped file', async () => {
    const lines = ['{"content":{"body":"Nested one."}}', '{"content":{"body":"Nested two."}}'].join('\n');
    const path = await file('nested.jsonl.gz', gzipSync(lines));
    const docs = await collect(readDocuments(path, 'jsonl', { field: 'content.body' }));
    expect(docs.map((d) => d.text)).toEqual(['Nested one.', 'Nested two.']);
  });

  it('names the line of invalid JSON or a missing text field', async () => {
    const broken = await file('broken.jsonl', '{"text":"ok"}\n{"text": oops}\n');
    await expect(collect(readDocuments(broken, 'jsonl'))).rejects.toThrow(/broken\.jsonl:2: not valid JSON/);
    const wrongField = await file('wrong.jsonl', '{"body":"text here"}\n');
    await expect(collect(readDocuments(wrongField, 'jsonl'))).rejects.toMatchObject({
      code: DataErrorCode.BAD_INPUT,
      message: expect.stringMatching(/wrong\.jsonl:1: field "text" must be a string, found no such field/),
    });
    const numeric = await file('numeric.jsonl', '{"text":42}\n');
    await expect(collect(readDocuments(numeric, 'jsonl'))).rejects.toThrow(/found a number/);
  });
});

const WIKI_DUMP = `<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="0.11" xml:lang="en">
  <siteinfo>
    <sitename>Wikipedia</sitename>
    <dbname>enwiki</dbname>
    <base>https://en.wikipedia.org/wiki/Main_Page</base>
    <generator>MediaWiki 1.42.0-wmf.1</generator>
    <case>first-letter</case>
    <namespaces>
      <namespace key="0" case="first-letter" />
      <namespace key="10" case="first-letter">Template</namespace>
    </namespaces>
  </siteinfo>
  <page>
    <title>Lighthouse</title>
    <ns>0</ns>
    <id>101</id>
    <revision>
      <id>9001</id>
      <parentid>9000</parentid>
      <timestamp>2024-01-01T00:00:00Z</timestamp>
      <contributor><username>Editor</username><id>5</id></contributor>
      <model>wikitext</model>
      <format>text/x-wiki</format>
      <text bytes="420" xml:space="preserve">{{Short description|Tower with a light}}
{{Infobox building|name=Lighthouse|image={{!}}}}
A '''lighthouse''' is a tower that guides [[Ship|ships]] at night.&lt;ref&gt;{{cite web|url=https://example.org}}&lt;/ref&gt;
[[File:Light.jpg|thumb|A [[lamp]] at dusk]]

== Design ==
The lamp sits behind a [[Fresnel lens]]&amp;nbsp;&amp;mdash; a lens of rings.

{| class="wikitable"
! Part !! Use
|-
| Lamp || light
|}

== References ==
{{reflist}}
[[Category:Towers]]</text>
      <sha1>abc</sha1>
    </revision>
  </page>
  <page>
    <title>Light house</title>
    <ns>0</ns>
    <id>102</id>
    <redirect title="Lighthouse" />
    <revision>
      <id>9002</id>
      <text bytes="24" xml:space="preserve">#REDIRECT [[Lighthouse]]</text>
    </revision>
  </page>
  <page>
    <title>Template:Infobox building</title>
    <ns>10</ns>
    <id>103</id>
    <revision>
      <id>9003</id>
      <text bytes="20" xml:space="preserve">Template body text.</text>
    </revision>
  </page>
  <page>
    <title>AT&amp;T Tower</title>
    <ns>0</ns>
    <id>104</id>
    <revision>
      <id>9004</id>
      <text bytes="60" xml:space="preserve">The '''AT&amp;amp;T Tower''' is tall &lt;small&gt;(very)&lt;/small&gt;.</text>
    </revision>
  </page>
</mediawiki>
`;

describe('Wikipedia XML dumps', () => {
  it('yields articles with their title, skipping redirects and other namespaces', async () => {
    const path = await file('enwiki-pages-articles.xml', WIKI_DUMP);
    const docs = await collect(readDocuments(path, 'wiki'));
    expect(docs.map((d) => d.source)).toEqual(['Lighthouse', 'AT&T Tower']);
    expect(docs[0]!.text).toBe(
      'Lighthouse\n\nA lighthouse is a tower that guides ships at night.\n\n' +
        'Design\nThe lamp sits behind a Fresnel lens \u2014 a lens of rings.',
    );
    expect(docs[1]!.text).toBe('AT&T Tower\n\nThe AT&T Tower is tall (very).');
  });

  it('reads a gzipped dump the same way', async () => {
    const path = await file('enwiki.xml.gz', gzipSync(WIKI_DUMP, { level: 1 }));
    const docs = await collect(readDocuments(path, 'wiki'));
    expect(docs.map((d) => d.source)).toEqual(['Lighthouse', 'AT&T Tower']);
  });

  it('rejects XML that is not well-formed, naming the file', async () => {
    const path = await file('bad-wiki.xml', '<mediawiki><page><title>X</title></mediawiki>');
    await expect(collect(readDocuments(path, 'wiki'))).rejects.toMatchObject({
      code: DataErrorCode.BAD_INPUT,
      message: expect.stringMatching(/bad-wiki\.xml: not well-formed XML/),
    });
  });

  it('reads a multistream .bz2 dump as published (two bzip2 streams, cut inside a page), counting the bytes read', async () => {
    const cut = WIKI_DUMP.indexOf('<page>', WIKI_DUMP.indexOf('<page>') + 1) + 3;
    const parts = [
      await compress('bzip2', 'part1.xml', WIKI_DUMP.slice(0, cut)),
      await compress('bzip2', 'part2.xml', WIKI_DUMP.slice(cut)),
    ];
    const path = await file('enwiki-pages-articles-multistream.xml.bz2', Buffer.concat(parts));
    const progress = new ByteProgress();
    const docs = await collect(readDocuments(path, 'wiki', { progress }));
    expect(docs.map((d) => d.source)).toEqual(['Lighthouse', 'AT&T Tower']);
    expect(progress.total).toBe(parts[0]!.length + parts[1]!.length);
    expect(progress.read).toBe(progress.total);
  });

  it('names a damaged .bz2 dump instead of yielding part of it silently', async () => {
    const whole = await compress('bzip2', 'whole.xml', WIKI_DUMP.repeat(20));
    const path = await file('truncated.xml.bz2', whole.subarray(0, Math.floor(whole.length / 2)));
    await expect(collect(readDocuments(path, 'wiki'))).rejects.toMatchObject({
      code: DataErrorCode.BAD_INPUT,
      message: expect.stringMatching(/truncated\.xml\.bz2: 7-Zip could not decompress it .*download it again/),
    });
  });

  it('refuses Zstandard with what to do', async () => {
    const path = await file('enwiki.xml.zst', 'x');
    await expect(collect(readDocuments(path, 'wiki'))).rejects.toThrow(/Zstandard.*decompress it first \(zstd -d\)/);
  });
});

describe('compressed text', () => {
  it('reads .xz text files in a folder, the progress total planned from every file', async () => {
    const xz = await compress('xz', 'x.txt', 'Xylophones ring.');
    await file('xzcorpus/x.txt.xz', xz);
    await file('xzcorpus/y.txt', 'Yaks roam.');
    const progress = new ByteProgress();
    const docs = await collect(readDocuments(join(dir, 'xzcorpus'), 'text', { progress }));
    expect(docs.map((d) => d.text)).toEqual(['Xylophones ring.', 'Yaks roam.']);
    expect(progress).toMatchObject({ read: xz.length + 10, total: xz.length + 10 });
  });
});

const POSTS_XML = `\ufeff<?xml version="1.0" encoding="utf-8"?>
<posts>
  <row Id="1" PostTypeId="1" AcceptedAnswerId="3" CreationDate="2010-07-28T19:04:21.300" Score="12" ViewCount="900" Body="&lt;p&gt;How do I list files &amp;amp; folders by size?&lt;/p&gt;&#xA;&#xA;&lt;p&gt;I tried &lt;code&gt;ls -l&lt;/code&gt;.&lt;/p&gt;&#xA;" OwnerUserId="7" Title="Sort files &amp; folders by size" Tags="&lt;bash&gt;&lt;ls&gt;" AnswerCount="1" CommentCount="0" ContentLicense="CC BY-SA 2.5" />
  <row Id="3" PostTypeId="2" ParentId="1" CreationDate="2010-07-28T19:10:00.000" Score="20" Body="&lt;p&gt;Use:&lt;/p&gt;&#xA;&#xA;&lt;pre&gt;&lt;code&gt;du -sh * | sort -h&#xA;&lt;/code&gt;&lt;/pre&gt;&#xA;" OwnerUserId="8" CommentCount="1" ContentLicense="CC BY-SA 2.5" />
  <row Id="4" PostTypeId="5" CreationDate="2010-07-28T19:11:00.000" Score="0" Body="&lt;p&gt;Tag wiki excerpt.&lt;/p&gt;" ContentLicense="CC BY-SA 2.5" />
  <row Id="5" PostTypeId="2" ParentId="1" Body="" />
</posts>
`;

describe('StackExchange Posts.xml', () => {
  it('yields questions (title and body) and answers as text, other post types skipped', async () => {
    const path = await file('Posts.xml', POSTS_XML);
    const docs = await collect(readDocuments(path, 'stackexchange'));
    expect(docs.map((d) => d.text)).toEqual([
      'Sort files & folders by size\n\nHow do I list files & folders by size?\n\nI tried ls -l.',
      'Use:\n\ndu -sh * | sort -h',
    ]);
    expect(docs.map((d) => d.source)).toEqual(['post 1', 'post 3']);
  });

  it("reads Posts.xml straight from the site's .7z archive, beside the dump's other files", async () => {
    const path = await archive('unix.stackexchange.com.7z', { 'Badges.xml': '<badges/>', 'Posts.xml': POSTS_XML, 'Users.xml': '<users/>' });
    const progress = new ByteProgress();
    const docs = await collect(readDocuments(path, 'stackexchange', { progress }));
    expect(docs.map((d) => d.source)).toEqual(['post 1', 'post 3']);
    expect(progress).toMatchObject({ read: Buffer.byteLength(POSTS_XML), total: Buffer.byteLength(POSTS_XML) });
  });

  it('names what an archive holds when Posts.xml is not among it, and a damaged archive', async () => {
    const path = await archive('meta.7z', { 'Badges.xml': '<badges/>', 'Tags.xml': '<tags/>' });
    await expect(collect(readDocuments(path, 'stackexchange'))).rejects.toThrow(
      /meta\.7z holds no Posts\.xml \(it holds Badges\.xml, Tags\.xml\)/,
    );
    const damaged = await file('damaged.7z', (await readFile(await archive('ok.7z', { 'Posts.xml': POSTS_XML }))).subarray(0, 40));
    await expect(collect(readDocuments(damaged, 'stackexchange'))).rejects.toMatchObject({
      code: DataErrorCode.BAD_INPUT,
      message: expect.stringMatching(/damaged\.7z: 7-Zip could not/),
    });
  });

  it('stops 7-Zip when the reader stops early', async () => {
    const rows = Array.from({ length: 3000 }, (_, i) => `<row Id="${i}" PostTypeId="2" Body="answer ${i} ${'text '.repeat(50)}" />`).join(
      '\n',
    );
    const path = await archive('big.7z', { 'Posts.xml': `<posts>${rows}</posts>` });
    const before = await sevenZipProcesses();
    for await (const doc of readDocuments(path, 'stackexchange')) {
      expect(doc.source).toBe('post 0');
      break;
    }
    await expect.poll(sevenZipProcesses, { timeout: 5000 }).toBe(before);
  });
});
