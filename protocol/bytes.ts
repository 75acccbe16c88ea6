/** Byte helpers shared by every codec: hex conversion, concatenation and fixed-width integers. */

export type Hex = `0x${string}`;

const HEX_CHARS = '0123456789abcdef';
const HEX_TABLE: string[] = Array.from({ length: 256 }, (_, i) => HEX_CHARS[i >> 4]! + HEX_CHARS[i & 15]!);

export function toHex(bytes: Uint8Array): Hex {
  let out = '0x';
  for (let i = 0; i < bytes.length; i++) out += HEX_TABLE[bytes[i]!];
  return out as Hex;
}

const NIBBLE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  NIBBLE[HEX_CHARS.charCodeAt(i)] = i;
  NIBBLE[HEX_CHARS.toUpperCase().charCodeAt(i)] = i;
}

function badHex(hex: unknown): TypeError {
  return new TypeError(`not 0x-prefixed even-length hex: ${String(hex).slice(0, 80)}`);
}

/** Parses 0x-prefixed hex into `out` at `offset`; returns the byte length. Hot in every codec, so no regex. */
export function hexInto(hex: string, out: Uint8Array, offset: number): number {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || hex.charCodeAt(0) !== 48 || (hex.charCodeAt(1) | 32) !== 120) throw badHex(hex);
  const length = (hex.length - 2) >> 1;
  for (let i = 0, j = 2; i < length; i++, j += 2) {
    const a = hex.charCodeAt(j);
    const b = hex.charCodeAt(j + 1);
    const hi = a < 128 ? NIBBLE[a]! : -1;
    const lo = b < 128 ? NIBBLE[b]! : -1;
    if (hi < 0 || lo < 0) throw badHex(hex);
    out[offset + i] = (hi << 4) | lo;
  }
  return length;
}

/** Parses 0x-prefixed hex; `expectedLength` (in bytes) is checked when given. */
export function fromHex(hex: string, expectedLength?: number): Uint8Array {
  if (typeof hex !== 'string') throw badHex(hex);
  const length = (hex.length - 2) >> 1;
  if (expectedLength !== undefined && length !== expectedLength) {
    if (hex.length % 2 !== 0 || !hex.startsWith('0x')) throw badHex(hex);
    throw new TypeError(`expected ${expectedLength} bytes of hex, got ${length}`);
  }
  const bytes = new Uint8Array(Math.max(0, length));
  hexInto(hex, bytes, 0);
  return bytes;
}

export function isHex(value: unknown, byteLength?: number): value is Hex {
  if (typeof value !== 'string' || !/^0x([0-9a-fA-F]{2})*$/.test(value)) return false;
  return byteLength === undefined || value.length === 2 + byteLength * 2;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Big-endian unsigned integer in exactly `width` bytes. */
export function uintToBytes(value: bigint, width: number): Uint8Array {
  const out = new Uint8Array(width);
  uintInto(value, out, 0, width);
  return out;
}

/** Writes `value` big-endian into exactly `width` bytes of `out` at `offset` (64 bits at a time). */
export function uintInto(value: bigint, out: Uint8Array, offset: number, width: number): void {
  if (value < 0n) throw new RangeError('negative integer');
  if (value <= 0xffffffffffffn) {
    // The common case (heights, nonces, indexes, small amounts) without BigInt arithmetic or a DataView.
    let v = Number(value);
    const end = offset + width;
    for (let i = end - 1; i >= offset; i--) {
      out[i] = v % 256;
      v = Math.floor(v / 256);
    }
    if (v !== 0) throw new RangeError(`integer does not fit in ${width} bytes`);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset + offset, width);
  let v = value;
  let i = width;
  for (; i >= 8; i -= 8) {
    view.setBigUint64(i - 8, BigInt.asUintN(64, v));
    v >>= 64n;
  }
  for (; i > 0; i--) {
    view.setUint8(i - 1, Number(v & 0xffn));
    v >>= 8n;
  }
  if (v !== 0n) throw new RangeError(`integer does not fit in ${width} bytes`);
}

export function bytesToUint(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = 0; i < bytes.length; i++) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

export const ZERO32 = new Uint8Array(32);
