/**
 * Canonical RLP (Ethereum's Recursive Length Prefix), the byte encoding of every chain object.
 * The decoder rejects every non-canonical form (non-minimal lengths, single bytes wrapped in a string,
 * trailing bytes), so each value has exactly one encoding and hashes are well defined.
 */
import { bytesToUint, concatBytes } from '../../protocol/bytes.js';

export type RlpItem = Uint8Array | RlpItem[];

export class RlpError extends Error {
  override name = 'RlpError';
}

function encodeLength(length: number, offset: number): Uint8Array {
  if (length < 56) return Uint8Array.of(offset + length);
  const lenBytes: number[] = [];
  for (let l = length; l > 0; l = Math.floor(l / 256)) lenBytes.unshift(l & 0xff);
  return Uint8Array.of(offset + 55 + lenBytes.length, ...lenBytes);
}

export function encodeRlp(item: RlpItem): Uint8Array {
  if (item instanceof Uint8Array) {
    if (item.length === 1 && item[0]! < 0x80) return item;
    return concatBytes(encodeLength(item.length, 0x80), item);
  }
  const payload = concatBytes(...item.map(encodeRlp));
  return concatBytes(encodeLength(payload.length, 0xc0), payload);
}

/** Minimal big-endian bytes of a non-negative integer (0 encodes as the empty string). */
export function uintToRlp(value: bigint | number): Uint8Array {
  let v = BigInt(value);
  if (v < 0n) throw new RlpError('cannot encode a negative integer');
  const out: number[] = [];
  while (v > 0n) {
    out.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  return Uint8Array.from(out);
}

/** Reads an integer of at most `maxBytes`, rejecting leading zeros. */
export function rlpToUint(item: RlpItem, maxBytes: number, what: string): bigint {
  if (!(item instanceof Uint8Array)) throw new RlpError(`${what}: expected an integer, got a list`);
  if (item.length > maxBytes) throw new RlpError(`${what}: integer longer than ${maxBytes} bytes`);
  if (item.length > 0 && item[0] === 0) throw new RlpError(`${what}: integer has a leading zero byte`);
  return bytesToUint(item);
}

export function rlpToBytes(item: RlpItem, length: number | undefined, what: string): Uint8Array {
  if (!(item instanceof Uint8Array)) throw new RlpError(`${what}: expected bytes, got a list`);
  if (length !== undefined && item.length !== length) throw new RlpError(`${what}: expected ${length} bytes, got ${item.length}`);
  return item;
}

export function rlpToList(item: RlpItem, length: number | undefined, what: string): RlpItem[] {
  if (item instanceof Uint8Array) throw new RlpError(`${what}: expected a list, got bytes`);
  if (length !== undefined && item.length !== length) throw new RlpError(`${what}: expected ${length} fields, got ${item.length}`);
  return item;
}

const MAX_DEPTH = 16;

export function decodeRlp(bytes: Uint8Array): RlpItem {
  const [item, end] = decodeAt(bytes, 0, 0);
  if (end !== bytes.length) throw new RlpError(`${bytes.length - end} trailing bytes after RLP item`);
  return item;
}

function readLength(bytes: Uint8Array, pos: number, lenOfLen: number): number {
  if (pos + lenOfLen > bytes.length) throw new RlpError('truncated RLP length');
  if (bytes[pos] === 0) throw new RlpError('RLP length has a leading zero byte');
  if (lenOfLen > 4) throw new RlpError('RLP length too large');
  let length = 0;
  for (let i = 0; i < lenOfLen; i++) length = length * 256 + bytes[pos + i]!;
  if (length < 56) throw new RlpError('non-minimal RLP length');
  return length;
}

function decodeAt(bytes: Uint8Array, pos: number, depth: number): [RlpItem, number] {
  if (depth > MAX_DEPTH) throw new RlpError('RLP nested too deeply');
  if (pos >= bytes.length) throw new RlpError('truncated RLP item');
  const prefix = bytes[pos]!;
  if (prefix < 0x80) return [bytes.subarray(pos, pos + 1), pos + 1];
  if (prefix < 0xc0) {
    let start: number;
    let length: number;
    if (prefix <= 0xb7) {
      length = prefix - 0x80;
      start = pos + 1;
      if (length === 1 && start < bytes.length && bytes[start]! < 0x80) throw new RlpError('single byte below 0x80 must encode as itself');
    } else {
      const lenOfLen = prefix - 0xb7;
      length = readLength(bytes, pos + 1, lenOfLen);
      start = pos + 1 + lenOfLen;
    }
    if (start + length > bytes.length) throw new RlpError('truncated RLP string');
    return [bytes.subarray(start, start + length), start + length];
  }
  let start: number;
  let length: number;
  if (prefix <= 0xf7) {
    length = prefix - 0xc0;
    start = pos + 1;
  } else {
    const lenOfLen = prefix - 0xf7;
    length = readLength(bytes, pos + 1, lenOfLen);
    start = pos + 1 + lenOfLen;
  }
  const end = start + length;
  if (end > bytes.length) throw new RlpError('truncated RLP list');
  const items: RlpItem[] = [];
  let p = start;
  while (p < end) {
    const [item, next] = decodeAt(bytes, p, depth + 1);
    if (next > end) throw new RlpError('RLP list item overruns its list');
    items.push(item);
    p = next;
  }
  return [items, end];
}
