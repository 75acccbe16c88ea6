import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode } from 'gpt-tokenizer/encoding/gpt2';
import { DEFAULT_CORPUS_DIR } from './default-corpus.js';

// Every text the BPE encoder is given, so a test can bound the pieces it sees (the encoder itself is unchanged).
const bpeInputs = vi.hoisted(() => [] as string[]);
vi.mock('gpt-tokenizer/encoding/gpt2', async (importOriginal) => {
  const real = await importOriginal<typeof import('gpt-tokenizer/encoding/gpt2')>();
  return {
    ...real,
    encode: (text: string, ...rest: unknown[]) => (bpeInputs.push(text), (real.encode as (...a: unknown[]) => number[])(text, ...rest)),
  };
});

import { decodeTokens, encodeDocument, encodeText, EOT_TOKEN, MAX_PIECE_CHARS, VOCAB_SIZE } from './tokenizer.js';

describe('GPT-2 tokenizer', () => {
  it('matches known GPT-2 ids', () => {
    expect(encodeText('Hello world')).toEqual([15496, 995]);
    expect(encodeText(' the')).toEqual([262]);
    expect(encodeText('\n\n')).toEqual([628]);
    expect(VOCAB_SIZE).toBe(50257);
    expect(EOT_TOKEN).toBe(50256);
  });

  it("gives the unbounded encoder's ids on the default corpus and on any text without long runs (issue 17)", () => {
    const plain = { allowedSpecial: new Set<string>(), disallowedSpecial: new Set<string>() };
    for (const file of readdirSync(DEFAULT_CORPUS_DIR).filter((f) => /\.(md|txt)$/.test(f))) {
      const text = readFileSync(join(DEFAULT_CORPUS_DIR, file), 'utf8');
      expect(encodeText(text), file).toEqual(encode(text, plain));
    }
    // Long runs mixed with text: every cut lies on a piece boundary, so the text around a run keeps its ids.
    const around = `start  ${'^'.repeat(3 * MAX_PIECE_CHARS + 5)}  end of it, x ${'a'.repeat(MAX_PIECE_CHARS)} ok`;
    const ids = encodeText(around);
    expect(decodeTokens(ids)).toBe(around);
    const head = encode('start ', plain);
    const tail = encode(' ok', plain);
    expect(ids.slice(0, head.length)).toEqual(head);
    expect(ids.slice(-tail.length)).toEqual(tail);
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), (text) => {
        expect(encodeText(text)).toEqual(encode(text, plain));
      }),
    );
  });

  it('encodes long runs of one character class in linear time, round-tripping them', () => {
    // Unbounded, these were super-linear: 100,000 "a" took 9.5 s and a million "^" did not finish in 300 s. BPE's cost
    // is quadratic in a piece's length and linear in the number of pieces, so the bound is that it never sees a piece
    // longer than MAX_PIECE_CHARS.
    const piece = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
    for (const text of ['a'.repeat(100_000), '^'.repeat(1_000_000), ' '.repeat(100_000), '7'.repeat(100_000), 'ACGT'.repeat(25_000)]) {
      bpeInputs.length = 0;
      expect(decodeTokens(encodeText(text))).toBe(text);
      const longest = Math.max(...bpeInputs.map((t) => Math.max(0, ...Array.from(t.matchAll(piece), (m) => m[0].length))));
      expect(longest, text.slice(0, 8)).toBeLessThanOrEqual(MAX_PIECE_CHARS);
    }
  });

  it('starts each document with the end-of-text token', () => {
    expect(encodeDocument('Hello world')).toEqual([50256, 15496, 995]);
    expect(encodeDocument('')).toEqual([50256]);
  });

  it('encodes a literal "<|endoftext|>" in a document as ordinary text', () => {
    const ids = encodeText('a <|endoftext|> b');
    expect(ids).not.toContain(EOT_TOKEN);
    expect(decodeTokens(ids)).toBe('a <|endoftext|> b');
  });

  it('round-trips any text, including non-Latin scripts and emoji', () => {
    for (const text of ['Grüße aus Köln', '日本語のテキスト', 'emoji 🚀🧪', '  spaces\tand\r\nlines  ', '']) {
      expect(decodeTokens(encodeText(text))).toBe(text);
    }
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (text) => decodeTokens(encodeText(text)) === text),
      { numRuns: 300 },
    );
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => decodeTokens([15496, 50257])).toThrow(/50257 is outside the GPT-2 vocabulary/);
    expect(() => decodeTokens([-1])).toThrow(RangeError);
    expect(() => decodeTokens([1.5])).toThrow(RangeError);
  });
});
