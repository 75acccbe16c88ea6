/** Opens dump files as streams of UTF-8 text, gunzipping `.gz` on the fly. */
import { createReadStream, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DataError, DataErrorCode } from './errors.js';

const CHUNK_BYTES = 1 << 20;

/** `stat` with a clear error for a path that is not there. */
export async function statInput(path: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch {
    throw new DataError(DataErrorCode.INPUT_NOT_FOUND, `input ${path} does not exist or cannot be read`);
  }
}

/** A readable stream of the file's text in chunks of about 1 MiB; never the whole file at once. */
export async function openTextStream(path: string): Promise<Readable> {
  const info = await statInput(path);
  if (!info.isFile()) throw new DataError(DataErrorCode.BAD_INPUT, `input ${path} is not a file`);
  if (/\.(bz2|7z|xz|zst)$/i.test(path)) {
    throw new DataError(
      DataErrorCode.BAD_INPUT,
      `input ${path} is compressed in a format the builder does not read; decompress it first (only .gz is read directly)`,
    );
  }
  const file = createReadStream(path, { highWaterMark: CHUNK_BYTES });
  const stream: Readable = path.toLowerCase().endsWith('.gz') ? file.pipe(createGunzip({ chunkSize: CHUNK_BYTES })) : file;
  if (stream !== file) file.on('error', (err) => stream.destroy(err));
  stream.setEncoding('utf8');
  return stream;
}
