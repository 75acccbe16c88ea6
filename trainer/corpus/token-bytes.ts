/**
 * Token ids as shard bytes and back (uint16 little-endian), on their own so that the browser's mining worker reads a
 * task's tokens without loading the tokenizer's tables.
 */
import { DataError, DataErrorCode } from './errors.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Shard bytes (uint16 little-endian) to token ids. */
export function tokensFromBytes(bytes: Uint8Array): Uint16Array {
  if (bytes.byteLength % 2 !== 0) {
    throw new DataError(DataErrorCode.BAD_INPUT, `shard data has an odd length (${bytes.byteLength} bytes); it is truncated`);
  }
  const tokens = new Uint16Array(bytes.byteLength / 2);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) {
    tokens.set(new Uint16Array(bytes.buffer, bytes.byteOffset, tokens.length));
  } else {
    for (let i = 0; i < tokens.length; i++) tokens[i] = view.getUint16(i * 2, true);
  }
  return tokens;
}

/** Token ids to shard bytes (uint16 little-endian). */
export function tokensToBytes(tokens: Uint16Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength);
  const bytes = new Uint8Array(tokens.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < tokens.length; i++) view.setUint16(i * 2, tokens[i] as number, true);
  return bytes;
}
