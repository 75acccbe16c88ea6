/**
 * The binary format of a model update (what a miner submits): version 2, browser-safe, little-endian.
 *
 * ```
 * "AILU" | version u8 = 2 | flags u8 = 0 | tensor count u16
 * per tensor, in the model's parameter order:
 *   name length u8 | name (UTF-8) | numel u32 | encoding u8 | count u32
 *   rank u8 (0: no low-rank block; always 0 on a dense tensor)
 *   if rank > 0: row length u32 (divides numel; rows = numel / row length) |
 *     rank x (u: rows values | v: row length values), each vector in the tensor's encoding:
 *       q8: scale f32 | n x int8 (-127..127), value = q * scale;   f32: n x f32
 *   q8 (0):     scale f32 | index bytes u32 | index gaps (LEB128) | count x int8 (-127..127), value = q * scale
 *   f32 (1):    index bytes u32 | index gaps (LEB128) | count x f32
 *   dense (2):  count = numel, numel x f32
 * ```
 * The change to element (i, j) of a tensor read as rows of `row length` (flat index i * row length + j) is
 * sum over the factors of u[i] * v[j], plus the sparse value at that index if there is one. The factors carry the
 * few directions a whole matrix moves along (Adam moves every embedding row along a handful of directions, which
 * top-k cannot send: at 1% density it kept 46-84% of a task's loss gain on ailo-tiny, rank 8 plus top-k 99-100%);
 * the sparse values carry the rest. Version 1 sent one mean row in place of the factors; it is refused.
 * Index gaps: the first is the first index, each next is `index - previous - 1`, so indices strictly increase.
 * Anything else (trailing bytes, an index past numel, -128, a non-finite value, an unknown tensor, a rank above
 * min(rows, row length)) fails to decode.
 */
export const UPDATE_MAGIC = 0x554c4941; // "AILU" read as a little-endian u32
export const UPDATE_CODEC_VERSION = 2;

export enum UpdateEncoding {
  Q8 = 0,
  F32 = 1,
  DENSE = 2,
}

/** One factor pair: adds u[i] * v[j] to element (i, j) of the tensor read as u.length rows of v.length values. */
export interface LowRankFactor {
  u: Float32Array;
  v: Float32Array;
}

export interface TensorUpdate {
  name: string;
  numel: number;
  encoding: UpdateEncoding;
  /** Strictly increasing positions of `values`; null for a dense tensor (every position). */
  indices: Uint32Array | null;
  values: Float32Array;
  /** Factor pairs of one shape (u.length * v.length = numel) whose products are added to the tensor, or null. */
  lowRank: LowRankFactor[] | null;
}

/** The tensors an update touches, in the model's parameter order (tensors it leaves alone are absent). */
export type ModelUpdate = TensorUpdate[];

export enum UpdateCodecErrorCode {
  TRUNCATED = 'UPDATE_TRUNCATED',
  BAD_HEADER = 'UPDATE_BAD_HEADER',
  UNSUPPORTED_VERSION = 'UPDATE_UNSUPPORTED_VERSION',
  UNKNOWN_TENSOR = 'UPDATE_UNKNOWN_TENSOR',
  SHAPE_MISMATCH = 'UPDATE_SHAPE_MISMATCH',
  BAD_INDEX = 'UPDATE_BAD_INDEX',
  NON_FINITE = 'UPDATE_NON_FINITE',
  MALFORMED = 'UPDATE_MALFORMED',
}

export class UpdateCodecError extends Error {
  override readonly name = 'UpdateCodecError';
  constructor(
    readonly code: UpdateCodecErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const Q8_MAX = 127;

function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function indexBytes(indices: Uint32Array): number {
  let n = 0;
  let prev = -1;
  for (let i = 0; i < indices.length; i++) {
    n += varintLength(indices[i]! - prev - 1);
    prev = indices[i]!;
  }
  return n;
}

/** Quantizes `values` to int8 with one scale (max |value| / 127): the values the receiver will decode. */
export function quantizeQ8(values: Float32Array): { scale: number; q: Int8Array; decoded: Float32Array } {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]!));
  const scale = Math.fround(max / Q8_MAX);
  const q = new Int8Array(values.length);
  const decoded = new Float32Array(values.length);
  if (scale > 0) {
    for (let i = 0; i < values.length; i++) {
      const v = Math.max(-Q8_MAX, Math.min(Q8_MAX, Math.round(values[i]! / scale)));
      q[i] = v;
      decoded[i] = v * scale;
    }
  }
  return { scale, q, decoded };
}

/** Rows and row length of a tensor's factors; throws unless they are consistent (encoder side). */
function factorShape(t: TensorUpdate): { rows: number; cols: number } | null {
  const f = t.lowRank;
  if (!f || f.length === 0) return null;
  if (t.encoding === UpdateEncoding.DENSE) throw new RangeError(`dense tensor ${t.name} cannot carry low-rank factors`);
  const rows = f[0]!.u.length;
  const cols = f[0]!.v.length;
  if (rows === 0 || cols === 0 || rows * cols !== t.numel)
    throw new RangeError(`tensor ${t.name}: factors of ${rows} x ${cols} do not make ${t.numel} values`);
  if (f.some((x) => x.u.length !== rows || x.v.length !== cols))
    throw new RangeError(`tensor ${t.name}: every factor must be ${rows} x ${cols}`);
  if (f.length > Math.min(255, rows, cols)) throw new RangeError(`tensor ${t.name}: rank ${f.length} exceeds min(255, ${rows}, ${cols})`);
  return { rows, cols };
}

/** Encodes an update. Q8 tensors (their values and factors) are quantized here; their decoded values are what `decodeUpdate` returns. */
export function encodeUpdate(update: ModelUpdate): Uint8Array {
  const enc = new TextEncoder();
  const names = update.map((t) => enc.encode(t.name));
  const quantized = update.map((t) => (t.encoding === UpdateEncoding.Q8 ? quantizeQ8(t.values) : null));
  const shapes = update.map(factorShape);
  let size = 8;
  update.forEach((t, i) => {
    if (names[i]!.length === 0 || names[i]!.length > 255) throw new RangeError(`tensor name "${t.name}" must be 1..255 bytes`);
    size += 1 + names[i]!.length + 4 + 1 + 4 + 1;
    const shape = shapes[i];
    if (shape)
      size += 4 + t.lowRank!.length * (t.encoding === UpdateEncoding.Q8 ? 8 + shape.rows + shape.cols : 4 * (shape.rows + shape.cols));
    if (t.encoding === UpdateEncoding.DENSE) {
      if (t.values.length !== t.numel) throw new RangeError(`dense tensor ${t.name} needs ${t.numel} values, has ${t.values.length}`);
      size += 4 * t.numel;
      return;
    }
    if (!t.indices || t.indices.length !== t.values.length) throw new RangeError(`sparse tensor ${t.name} needs one index per value`);
    size += 4 + indexBytes(t.indices) + (t.encoding === UpdateEncoding.Q8 ? 4 + t.values.length : 4 * t.values.length);
  });
  if (update.length > 0xffff) throw new RangeError('an update holds at most 65535 tensors');
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, UPDATE_MAGIC, true);
  out[4] = UPDATE_CODEC_VERSION;
  out[5] = 0;
  view.setUint16(6, update.length, true);
  let p = 8;
  const writeVector = (x: Float32Array, q8: boolean): void => {
    if (q8) {
      const q = quantizeQ8(x);
      view.setFloat32(p, q.scale, true);
      out.set(new Uint8Array(q.q.buffer, q.q.byteOffset, q.q.length), p + 4);
      p += 4 + q.q.length;
    } else {
      for (let j = 0; j < x.length; j++, p += 4) view.setFloat32(p, x[j]!, true);
    }
  };
  update.forEach((t, i) => {
    out[p++] = names[i]!.length;
    out.set(names[i]!, p);
    p += names[i]!.length;
    view.setUint32(p, t.numel, true);
    out[p + 4] = t.encoding;
    view.setUint32(p + 5, t.values.length, true);
    p += 9;
    const shape = shapes[i];
    out[p++] = shape ? t.lowRank!.length : 0;
    if (shape) {
      view.setUint32(p, shape.cols, true);
      p += 4;
      for (const f of t.lowRank!) {
        writeVector(f.u, t.encoding === UpdateEncoding.Q8);
        writeVector(f.v, t.encoding === UpdateEncoding.Q8);
      }
    }
    if (t.encoding === UpdateEncoding.DENSE) {
      for (let j = 0; j < t.values.length; j++, p += 4) view.setFloat32(p, t.values[j]!, true);
      return;
    }
    const q = quantized[i];
    if (q) {
      view.setFloat32(p, q.scale, true);
      p += 4;
    }
    const idx = t.indices!;
    view.setUint32(p, indexBytes(idx), true);
    p += 4;
    let prev = -1;
    for (let j = 0; j < idx.length; j++) {
      if (idx[j]! <= prev || idx[j]! >= t.numel)
        throw new RangeError(`tensor ${t.name}: indices must increase strictly and stay below ${t.numel}`);
      let gap = idx[j]! - prev - 1;
      prev = idx[j]!;
      while (gap >= 0x80) {
        out[p++] = (gap & 0x7f) | 0x80;
        gap = Math.floor(gap / 128);
      }
      out[p++] = gap;
    }
    if (q) {
      out.set(new Uint8Array(q.q.buffer, q.q.byteOffset, q.q.length), p);
      p += q.q.length;
    } else {
      for (let j = 0; j < t.values.length; j++, p += 4) view.setFloat32(p, t.values[j]!, true);
    }
  });
  return out;
}

/** Sizes of the tensors an update may touch, by name, in the model's parameter order. */
export type TensorSizes = ReadonlyMap<string, number>;

/** Decodes and checks an update against the model's tensors; throws an UpdateCodecError naming the fault. */
export function decodeUpdate(bytes: Uint8Array, sizes: TensorSizes): ModelUpdate {
  const fail = (code: UpdateCodecErrorCode, message: string): never => {
    throw new UpdateCodecError(code, message);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const need = (n: number, what: string): void => {
    if (p + n > bytes.length) fail(UpdateCodecErrorCode.TRUNCATED, `update ends inside ${what} (byte ${p} of ${bytes.length})`);
  };
  need(8, 'the header');
  if (view.getUint32(0, true) !== UPDATE_MAGIC) fail(UpdateCodecErrorCode.BAD_HEADER, 'not an Ailo update (magic "AILU" missing)');
  if (bytes[4] === 1) {
    fail(
      UpdateCodecErrorCode.UNSUPPORTED_VERSION,
      `update codec version 1 (mean rows) is no longer accepted; this node reads version ${UPDATE_CODEC_VERSION} (low-rank factors): ` +
        "update the miner (a new ailo-miner, or reload the browser miner's page); the task's codecVersion names the version to send",
    );
  }
  if (bytes[4] !== UPDATE_CODEC_VERSION)
    fail(
      UpdateCodecErrorCode.UNSUPPORTED_VERSION,
      `update codec version ${bytes[4]} is not supported (this node reads ${UPDATE_CODEC_VERSION})`,
    );
  if (bytes[5] !== 0) fail(UpdateCodecErrorCode.BAD_HEADER, `unknown update flags ${bytes[5]}`);
  const count = view.getUint16(6, true);
  p = 8;
  const order = [...sizes.keys()];
  let lastOrder = -1;
  const dec = new TextDecoder('utf-8', { fatal: true });
  const out: ModelUpdate = [];
  for (let t = 0; t < count; t++) {
    need(1, `tensor ${t}'s name`);
    const nameLen = bytes[p++]!;
    need(nameLen, `tensor ${t}'s name`);
    let name = '';
    try {
      name = dec.decode(bytes.subarray(p, p + nameLen));
    } catch {
      fail(UpdateCodecErrorCode.MALFORMED, `tensor ${t}'s name is not UTF-8`);
    }
    p += nameLen;
    const expected = sizes.get(name);
    if (expected === undefined) fail(UpdateCodecErrorCode.UNKNOWN_TENSOR, `the model has no tensor "${name.slice(0, 64)}"`);
    const at = order.indexOf(name);
    if (at <= lastOrder) fail(UpdateCodecErrorCode.MALFORMED, `tensor "${name}" is repeated or out of the model's parameter order`);
    lastOrder = at;
    need(9, `tensor ${name}'s header`);
    const numel = view.getUint32(p, true);
    const encoding = bytes[p + 4]!;
    const n = view.getUint32(p + 5, true);
    p += 9;
    if (numel !== expected)
      fail(UpdateCodecErrorCode.SHAPE_MISMATCH, `tensor ${name} has ${expected} values in the model, the update says ${numel}`);
    if (n > numel) fail(UpdateCodecErrorCode.MALFORMED, `tensor ${name} lists ${n} values for ${numel} positions`);
    if (encoding !== UpdateEncoding.Q8 && encoding !== UpdateEncoding.F32 && encoding !== UpdateEncoding.DENSE)
      fail(UpdateCodecErrorCode.MALFORMED, `tensor ${name} has unknown encoding ${encoding}`);
    need(1, `tensor ${name}'s rank`);
    const rank = bytes[p++]!;
    let lowRank: LowRankFactor[] | null = null;
    if (rank > 0) {
      if (encoding === UpdateEncoding.DENSE) fail(UpdateCodecErrorCode.MALFORMED, `dense tensor ${name} carries ${rank} low-rank factors`);
      need(4, `tensor ${name}'s row length`);
      const cols = view.getUint32(p, true);
      p += 4;
      if (cols === 0 || numel % cols !== 0)
        fail(UpdateCodecErrorCode.SHAPE_MISMATCH, `tensor ${name}: row length ${cols} does not divide ${numel}`);
      const rows = numel / cols;
      if (rank > Math.min(rows, cols)) fail(UpdateCodecErrorCode.MALFORMED, `tensor ${name} has rank ${rank}, above min(${rows}, ${cols})`);
      const readVector = (len: number, what: string): Float32Array => {
        need(encoding === UpdateEncoding.Q8 ? 4 + len : 4 * len, what);
        const x = new Float32Array(len);
        if (encoding === UpdateEncoding.Q8) {
          const scale = view.getFloat32(p, true);
          if (!Number.isFinite(scale) || scale < 0)
            fail(UpdateCodecErrorCode.NON_FINITE, `${what} has scale ${scale}; it must be finite and non-negative`);
          p += 4;
          for (let j = 0; j < len; j++) {
            const q = (bytes[p++]! << 24) >> 24;
            if (q === -128) fail(UpdateCodecErrorCode.MALFORMED, `${what} value ${j} is -128, outside -127..127`);
            x[j] = q * scale;
            // A finite scale can still overflow float32 (127 x 3e38): a value the receiver stores must be finite.
            if (!Number.isFinite(x[j]!))
              fail(UpdateCodecErrorCode.NON_FINITE, `${what} value ${j} (${q} x scale ${scale}) is not finite in float32`);
          }
        } else {
          for (let j = 0; j < len; j++, p += 4) {
            const v = view.getFloat32(p, true);
            if (!Number.isFinite(v)) fail(UpdateCodecErrorCode.NON_FINITE, `${what} value ${j} is not finite`);
            x[j] = v;
          }
        }
        return x;
      };
      lowRank = [];
      for (let k = 0; k < rank; k++) {
        const u = readVector(rows, `tensor ${name}'s factor ${k} u`);
        const v = readVector(cols, `tensor ${name}'s factor ${k} v`);
        lowRank.push({ u, v });
      }
    }
    if (encoding === UpdateEncoding.DENSE) {
      if (n !== numel) fail(UpdateCodecErrorCode.MALFORMED, `dense tensor ${name} must carry all ${numel} values`);
      need(4 * n, `tensor ${name}'s values`);
      const values = new Float32Array(n);
      for (let j = 0; j < n; j++, p += 4) {
        const v = view.getFloat32(p, true);
        if (!Number.isFinite(v)) fail(UpdateCodecErrorCode.NON_FINITE, `tensor ${name} value ${j} is not finite`);
        values[j] = v;
      }
      out.push({ name, numel, encoding, indices: null, values, lowRank });
      continue;
    }
    let scale = 1;
    if (encoding === UpdateEncoding.Q8) {
      need(4, `tensor ${name}'s scale`);
      scale = view.getFloat32(p, true);
      p += 4;
      if (!Number.isFinite(scale) || scale < 0)
        fail(UpdateCodecErrorCode.NON_FINITE, `tensor ${name} has scale ${scale}; it must be finite and non-negative`);
    }
    need(4, `tensor ${name}'s index length`);
    const idxLen = view.getUint32(p, true);
    p += 4;
    need(idxLen, `tensor ${name}'s indices`);
    const end = p + idxLen;
    const indices = new Uint32Array(n);
    let prev = -1;
    for (let j = 0; j < n; j++) {
      let gap = 0;
      let mul = 1;
      for (;;) {
        if (p >= end) fail(UpdateCodecErrorCode.BAD_INDEX, `tensor ${name}'s index stream ends at index ${j} of ${n}`);
        const b = bytes[p++]!;
        gap += (b & 0x7f) * mul;
        if (b < 0x80) break;
        mul *= 128;
        if (mul > 2 ** 35) fail(UpdateCodecErrorCode.BAD_INDEX, `tensor ${name} index ${j} is too long`);
      }
      const index = prev + 1 + gap;
      if (index >= numel) fail(UpdateCodecErrorCode.BAD_INDEX, `tensor ${name} index ${index} is past its ${numel} values`);
      indices[j] = index;
      prev = index;
    }
    if (p !== end) fail(UpdateCodecErrorCode.BAD_INDEX, `tensor ${name}'s index stream has ${end - p} bytes left over`);
    const values = new Float32Array(n);
    if (encoding === UpdateEncoding.Q8) {
      need(n, `tensor ${name}'s values`);
      for (let j = 0; j < n; j++) {
        const q = (bytes[p++]! << 24) >> 24;
        if (q === -128) fail(UpdateCodecErrorCode.MALFORMED, `tensor ${name} value ${j} is -128, outside -127..127`);
        values[j] = q * scale;
        if (!Number.isFinite(values[j]!))
          fail(UpdateCodecErrorCode.NON_FINITE, `tensor ${name} value ${j} (${q} x scale ${scale}) is not finite in float32`);
      }
    } else {
      need(4 * n, `tensor ${name}'s values`);
      for (let j = 0; j < n; j++, p += 4) {
        const v = view.getFloat32(p, true);
        if (!Number.isFinite(v)) fail(UpdateCodecErrorCode.NON_FINITE, `tensor ${name} value ${j} is not finite`);
        values[j] = v;
      }
    }
    out.push({ name, numel, encoding, indices, values, lowRank });
  }
  if (p !== bytes.length) fail(UpdateCodecErrorCode.MALFORMED, `${bytes.length - p} bytes follow the last tensor`);
  return out;
}

/** Adds `scale` times the product of `factors` into `into` (row-major, rows of v.length). */
export function addLowRankInto(into: Float32Array, factors: readonly LowRankFactor[], scale = 1): void {
  for (const { u, v } of factors) {
    const cols = v.length;
    for (let i = 0; i < u.length; i++) {
      const a = scale * u[i]!;
      if (a === 0) continue;
      for (let j = 0, at = i * cols; j < cols; j++, at++) into[at] = into[at]! + a * v[j]!;
    }
  }
}

function maxAbsOf(x: Float32Array): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

/**
 * Values an update carries (factor entries included), and the largest change it makes to any one weight. The
 * factors' product is expanded (rows x row length x rank) only where the bound sum of max|u| * max|v| could beat
 * the largest change at a sparse position.
 */
export function updateStats(update: ModelUpdate): { values: number; maxAbs: number } {
  let values = 0;
  let maxAbs = 0;
  for (const t of update) {
    values += t.values.length;
    const factors = t.lowRank ?? [];
    for (const f of factors) values += f.u.length + f.v.length;
    const at = (i: number): number => {
      let s = 0;
      for (const f of factors) s += f.u[Math.floor(i / f.v.length)]! * f.v[i % f.v.length]!;
      return s;
    };
    for (let j = 0; j < t.values.length; j++)
      maxAbs = Math.max(maxAbs, Math.abs(t.values[j]! + (factors.length ? at(t.indices ? t.indices[j]! : j) : 0)));
    if (factors.length === 0) continue;
    let bound = 0;
    for (const f of factors) bound += maxAbsOf(f.u) * maxAbsOf(f.v);
    if (bound <= maxAbs) continue;
    const cols = factors[0]!.v.length;
    const row = new Float64Array(cols);
    let k = 0; // next sparse value (the tensor is not dense: dense tensors carry no factors)
    for (let i = 0; i < factors[0]!.u.length; i++) {
      row.fill(0);
      for (const { u, v } of factors) {
        const a = u[i]!;
        if (a !== 0) for (let j = 0; j < cols; j++) row[j] += a * v[j]!;
      }
      const end = (i + 1) * cols;
      for (; t.indices && k < t.indices.length && t.indices[k]! < end; k++) row[t.indices[k]! - i * cols] += t.values[k]!;
      for (let j = 0; j < cols; j++) maxAbs = Math.max(maxAbs, Math.abs(row[j]!));
    }
  }
  return { values, maxAbs };
}

/** The update of one tensor as dense values. */
export function denseValues(t: TensorUpdate): Float32Array {
  const out = new Float32Array(t.numel);
  if (t.lowRank) addLowRankInto(out, t.lowRank);
  if (t.indices === null) for (let i = 0; i < out.length; i++) out[i] = out[i]! + t.values[i]!;
  else for (let j = 0; j < t.indices.length; j++) out[t.indices[j]!] = out[t.indices[j]!]! + t.values[j]!;
  return out;
}
