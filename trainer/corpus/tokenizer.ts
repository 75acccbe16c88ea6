/**
 * GPT-2 byte-level BPE (50,257 tokens), the network's tokenizer. Browser-safe: imports nothing from Node.
 * Token ids match tiktoken's and Hugging Face's `gpt2`.
 */
import { decode, encode } from 'gpt-tokenizer/encoding/gpt2';

export const TOKENIZER_NAME = 'gpt2';
export const VOCAB_SIZE = 50_257;
/** `<|endoftext|>`: separates documents in the token stream (placed before each document). */
export const EOT_TOKEN = 50_256;

// Document text is data, never control: a literal "<|endoftext|>" in a document is encoded as ordinary text.
const PLAIN_TEXT = { allowedSpecial: new Set<string>(), disallowedSpecial: new Set<string>() };

/**
 * Longest pre-tokenizer piece (characters) given to BPE whole. BPE's merges cost grows with the square of a piece's
 * length, and GPT-2's pre-tokenizer makes a run of one character class a single piece (100,000 "a" took 9.5 s, a
 * million "^" did not finish); longer pieces are cut into pieces of this length. Text without such runs (prose, code,
 * the default corpus: checked in tokenizer.test.ts) gets exactly the ids of the unbounded encoder.
 */
export const MAX_PIECE_CHARS = 256;

/** GPT-2's pre-tokenizer (the `pat` of its encoder.py), as a JavaScript regular expression. */
const GPT2_PIECES = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
const LONG_RUN = new RegExp(
  `\\p{L}{${MAX_PIECE_CHARS},}|\\p{N}{${MAX_PIECE_CHARS},}|[^\\s\\p{L}\\p{N}]{${MAX_PIECE_CHARS},}|\\s{${MAX_PIECE_CHARS},}`,
  'u',
);

/** Encodes text into GPT-2 token ids, treating special-token strings as plain text; linear in the text's length. */
export function encodeText(text: string): number[] {
  if (!LONG_RUN.test(text)) return encode(text, PLAIN_TEXT);
  // Whole runs of ordinary pieces are encoded together; a long piece is encoded in MAX_PIECE_CHARS slices. BPE never
  // merges across pieces, so cutting at piece boundaries changes nothing.
  const ids: number[] = [];
  let from = 0;
  for (const m of text.matchAll(GPT2_PIECES)) {
    const piece = m[0];
    if (piece.length < MAX_PIECE_CHARS) continue;
    if (m.index > from) ids.push(...encode(text.slice(from, m.index), PLAIN_TEXT));
    for (let i = 0; i < piece.length; i += MAX_PIECE_CHARS) ids.push(...encode(piece.slice(i, i + MAX_PIECE_CHARS), PLAIN_TEXT));
    from = m.index + piece.length;
  }
  if (from < text.length) ids.push(...encode(text.slice(from), PLAIN_TEXT));
  return ids;
}

/** Encodes one document as it lies in a shard: the end-of-text token, then the document's tokens. */
export function encodeDocument(text: string): number[] {
  const ids = encodeText(text);
  ids.unshift(EOT_TOKEN);
  return ids;
}

/** Decodes token ids to text; `EOT_TOKEN` decodes as "<|endoftext|>". Throws on an id outside the vocabulary. */
export function decodeTokens(ids: Iterable<number>): string {
  const list = Array.from(ids);
  for (const id of list) {
    if (!Number.isInteger(id) || id < 0 || id >= VOCAB_SIZE) {
      throw new RangeError(`token id ${id} is outside the GPT-2 vocabulary [0, ${VOCAB_SIZE})`);
    }
  }
  return decode(list);
}
