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

/** Encodes text into GPT-2 token ids, treating special-token strings as plain text. */
export function encodeText(text: string): number[] {
  return encode(text, PLAIN_TEXT);
}

/** Encodes one document as it lies in a shard: the end-of-text token, then the document's tokens. */
export function encodeDocument(text: string): number[] {
  const ids = encode(text, PLAIN_TEXT);
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
