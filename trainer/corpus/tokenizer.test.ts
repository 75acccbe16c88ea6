import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeTokens, encodeDocument, encodeText, EOT_TOKEN, VOCAB_SIZE } from './tokenizer.js';

describe('GPT-2 tokenizer', () => {
  it('matches known GPT-2 ids', () => {
    expect(encodeText('Hello world')).toEqual([15496, 995]);
    expect(encodeText(' the')).toEqual([262]);
    expect(encodeText('\n\n')).toEqual([628]);
    expect(VOCAB_SIZE).toBe(50257);
    expect(EOT_TOKEN).toBe(50256);
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
