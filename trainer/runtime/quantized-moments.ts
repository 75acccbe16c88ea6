/**
 * Storage for AdamW moments: float32, or 8 bits a value, block-wise, in the manner of bitsandbytes (Dettmers et al.,
 * "8-bit Optimizers via Block-wise Quantization", ICLR 2022). Each block of QUANT_BLOCK values keeps its absolute
 * maximum as float32, and each value a 1-byte code of value / absmax on a dynamic (non-linear) map, so that small
 * values keep their relative precision beside large ones:
 * - signed (the first moment): bit 7 the sign, bits 0..6 a level k: 0 is zero, k = 1..127 is 10^(-7 (127 - k) / 126),
 *   log-spaced over seven decades (neighbouring levels 13.7% apart, so at most about 6.6% off after rounding);
 * - unsigned (the second moment, never negative): k = 0 is zero, k = 1..255 is 10^(-16 (255 - k) / 254), sixteen
 *   decades (15.6% apart, at most about 7.5% off; 3.7% on its square root, which is what the update divides by).
 * Rounding is to the nearest level in log space (through a table, encodeTable); a block's maximum is exact. Memory: 1 byte a value plus 4 bytes a
 * block (2 bytes a parameter for both moments, against 8 in float32). Browser-safe.
 */
import { QUANT_BLOCK, type MomentFormat } from '../model/memory-plan.js';

export type { MomentFormat };

export { QUANT_BLOCK };

/** A moment tensor read and written a block at a time (values `start` .. `start + out.length`). */
export interface MomentStore {
  readonly length: number;
  /** Bytes this store holds. */
  readonly bytes: number;
  /** Decodes block `block` (QUANT_BLOCK values, fewer in the last) into `out`; returns how many values it holds. */
  read(block: number, out: Float32Array): number;
  /**
   * Encodes the first `count` values of `values` as block `block`. `absmax`, when the caller knows it, is the largest
   * |value| among them (it saves a pass); it must be exact: the block decodes as multiples of it (a larger value
   * decodes as `absmax`, with its sign).
   */
  write(block: number, values: Float32Array, count: number, absmax?: number): void;
}

/** Zero-initialized moments of `length` values in `format`; `signed` for a moment that may be negative. */
export function momentStore(format: MomentFormat, length: number, signed: boolean): MomentStore {
  return format === 'int8' ? new Int8Moments(length, signed) : new Float32Moments(length);
}

export function blockCount(length: number): number {
  return Math.ceil(length / QUANT_BLOCK);
}

class Float32Moments implements MomentStore {
  private readonly data: Float32Array;
  constructor(readonly length: number) {
    this.data = new Float32Array(length);
  }
  get bytes(): number {
    return this.data.byteLength;
  }
  read(block: number, out: Float32Array): number {
    const start = block * QUANT_BLOCK;
    const n = Math.min(QUANT_BLOCK, this.length - start);
    out.set(this.data.subarray(start, start + n));
    return n;
  }
  write(block: number, values: Float32Array, count: number, _absmax?: number): void {
    this.data.set(values.subarray(0, count), block * QUANT_BLOCK);
  }
}

const SIGNED_LEVELS = 127;
const SIGNED_DECADES = 7;
const UNSIGNED_LEVELS = 255;
const UNSIGNED_DECADES = 16;

/** The decoding table of a map: code -> value / absmax. */
function decodeTable(signed: boolean): Float32Array {
  const table = new Float32Array(256);
  const [levels, decades] = signed ? [SIGNED_LEVELS, SIGNED_DECADES] : [UNSIGNED_LEVELS, UNSIGNED_DECADES];
  for (let code = 0; code < 256; code++) {
    const k = signed ? code & 0x7f : code;
    const magnitude = k === 0 ? 0 : 10 ** ((-decades * (levels - k)) / (levels - 1));
    table[code] = signed && code & 0x80 ? -magnitude : magnitude;
  }
  return table;
}
const TABLES = { signed: decodeTable(true), unsigned: decodeTable(false) };

/** Bits of a float32's pattern the encoding table is indexed by: sign, exponent and the mantissa's top 11 bits. */
const INDEX_SHIFT = 12;

/**
 * The encoding table of a map: for a ratio r in (0, 1], indexed by r's float32 bit pattern without its sign >>>
 * INDEX_SHIFT, its level (nearest in log space, 0 below half the first level). A bucket spans 2^-11 of r, so rounding at
 * a bucket's middle is off by at most that much from rounding r itself: no more than 0.05% added to the bounds above.
 * Replaces a log10 a value (about 80 ns here) with a table read.
 */
function encodeTable(signed: boolean): Uint8Array {
  const [levels, decades] = signed ? [SIGNED_LEVELS, SIGNED_DECADES] : [UNSIGNED_LEVELS, UNSIGNED_DECADES];
  const perDecade = (levels - 1) / decades;
  const zeroBelow = 10 ** -decades / 2;
  const size = 1 << (32 - INDEX_SHIFT - 1); // the sign bit is masked off
  const table = new Uint8Array(size);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < size; i++) {
    u[0] = (i << INDEX_SHIFT) | (1 << (INDEX_SHIFT - 1));
    const r = f[0]!;
    if (!(r >= zeroBelow)) continue; // 0, and NaN patterns, stay level 0
    table[i] = Math.min(levels, Math.max(1, Math.round(levels + Math.log10(r) * perDecade)));
  }
  return table;
}
let encodeTables: { signed: Uint8Array; unsigned: Uint8Array } | undefined;

class Int8Moments implements MomentStore {
  private readonly codes: Uint8Array;
  private readonly absmax: Float32Array;
  private readonly table: Float32Array;
  private readonly encode: Uint8Array;
  /** A block's ratios, and their bit patterns. */
  private readonly ratios = new Float32Array(QUANT_BLOCK);
  private readonly ratioBits = new Uint32Array(this.ratios.buffer);

  constructor(
    readonly length: number,
    private readonly signed: boolean,
  ) {
    this.codes = new Uint8Array(length);
    this.absmax = new Float32Array(blockCount(length));
    this.table = signed ? TABLES.signed : TABLES.unsigned;
    encodeTables ??= { signed: encodeTable(true), unsigned: encodeTable(false) };
    this.encode = signed ? encodeTables.signed : encodeTables.unsigned;
  }

  get bytes(): number {
    return this.codes.byteLength + this.absmax.byteLength;
  }

  read(block: number, out: Float32Array): number {
    const start = block * QUANT_BLOCK;
    const n = Math.min(QUANT_BLOCK, this.length - start);
    const scale = this.absmax[block]!;
    const { codes, table } = this;
    for (let j = 0; j < n; j++) out[j] = table[codes[start + j]!]! * scale;
    return n;
  }

  write(block: number, values: Float32Array, count: number, absmax?: number): void {
    const start = block * QUANT_BLOCK;
    let max = absmax ?? 0;
    if (absmax === undefined)
      for (let j = 0; j < count; j++) {
        const a = Math.abs(values[j]!);
        if (a > max) max = a;
      }
    this.absmax[block] = max;
    const { codes, encode, ratios, ratioBits } = this;
    const sign = this.signed ? 0x80 : 0;
    if (max === 0) {
      codes.fill(0, start, start + count);
      return;
    }
    const inv = 1 / max;
    for (let j = 0; j < count; j++) ratios[j] = values[j]! * inv; // signed ratios: the sign is bit 31
    // Without a branch on the sign (a first moment's signs are as good as random, and a mispredicted branch a value
    // doubled this loop's time): the sign bit goes to bit 7 unless the level is 0 (k + 127 has bit 7 set iff k >= 1).
    for (let j = 0; j < count; j++) {
      const b = ratioBits[j]!;
      const k = encode[(b & 0x7fffffff) >>> INDEX_SHIFT]!;
      codes[start + j] = k | ((b >>> 24) & (k + 127) & sign);
    }
    // The block's maximum is exact: its ratio is 1, the top level.
  }
}
