/**
 * Opens dump files as streams of UTF-8 text, as the dumps are published: plain, `.gz` (zlib), `.bz2` (Wikipedia's
 * pages-articles, multistream included) and `.xz` through 7-Zip's decoder fed from the file, and `.7z` archives
 * (StackExchange's, holding `Posts.xml` among others) through 7-Zip extracting one entry to its standard output.
 * Nothing is decompressed to disk and the whole file is never in memory. 7-Zip is the maintained `7zz` when it is on
 * PATH (Debian's and Ubuntu's `7zip` package, 7-Zip's own Linux and macOS builds; `AILO_7ZIP` names another), else
 * the `7za` the npm package `7zip-bin` ships for each platform (p7zip 16.02: older, but present on every install).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, type Stats } from 'node:fs';
import { access, chmod, constants, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { path7za } from '7zip-bin';
import { DataError, DataErrorCode } from './errors.js';

const CHUNK_BYTES = 1 << 20;

/**
 * How far reading has got, in bytes: of the compressed file for plain, `.gz`, `.bz2` and `.xz` input, of the
 * extracted entry for a `.7z` archive (7-Zip reads the archive itself). A folder's readers add every file's size to
 * `total` before they start.
 */
export class ByteProgress {
  read = 0;
  total = 0;
  private planned = false;

  /** Sets the total up front (a folder of files); later `expect` calls leave it as it is. */
  plan(bytes: number): void {
    this.total = bytes;
    this.planned = true;
  }

  /** Adds one opened input's size to the total, unless the total was planned. */
  expect(bytes: number): void {
    if (!this.planned) this.total += bytes;
  }
}

export interface OpenTextOptions {
  /**
   * For a `.7z` archive: the file inside to read, matched by its name without folders, case-insensitively (e.g.
   * `Posts.xml`). Without it the archive must hold exactly one file.
   */
  entry?: string;
  progress?: ByteProgress;
}

/** `stat` with a clear error for a path that is not there. */
export async function statInput(path: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch {
    throw new DataError(DataErrorCode.INPUT_NOT_FOUND, `input ${path} does not exist or cannot be read`);
  }
}

/** The 7-Zip chosen on first use (see sevenZip). */
let chosen: string | undefined;

/**
 * The 7-Zip executable: `AILO_7ZIP`, else `7zz` from PATH, else `7zip-bin`'s `7za` (made executable on first use:
 * npm unpacks it without the execute bit). Throws a `DataError` saying what to install when none can be run.
 */
export async function sevenZip(): Promise<string> {
  if (process.env.AILO_7ZIP) return process.env.AILO_7ZIP;
  chosen ??= spawnSync('7zz', ['i'], { stdio: 'ignore' }).status === 0 ? '7zz' : path7za;
  if (chosen !== path7za || path7za === '7za') return chosen;
  try {
    await access(path7za, constants.X_OK);
  } catch {
    try {
      await chmod(path7za, 0o755);
    } catch (err) {
      throw new DataError(
        DataErrorCode.BAD_INPUT,
        `cannot run 7-Zip at ${path7za} (${(err as Error).message}): install 7-Zip (Debian and Ubuntu: apt install 7zip), or decompress the input first`,
      );
    }
  }
  return path7za;
}

/** Runs 7-Zip to completion and returns its standard output (for listings). */
async function sevenZipOutput(args: string[], path: string): Promise<string> {
  const child = spawn(await sevenZip(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw sevenZipFailure(path, code, Buffer.concat([...err, ...out]).toString('utf8'));
  return Buffer.concat(out).toString('utf8');
}

function sevenZipFailure(path: string, code: number | null, output: string): DataError {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /error|warning|unexpected|not archive|can ?not/i.test(l));
  return new DataError(
    DataErrorCode.BAD_INPUT,
    `${path}: 7-Zip could not decompress it (exit ${code}${lines.length ? `: ${lines.slice(0, 3).join('; ')}` : ''}); the file is damaged or truncated: download it again`,
  );
}

/** One file inside a `.7z` archive, as `7za l -slt` lists it. */
export interface ArchiveEntry {
  path: string;
  /** Unpacked size in bytes. */
  size: number;
}

/** The files (not folders) inside a `.7z` archive. */
export async function listArchive(path: string): Promise<ArchiveEntry[]> {
  const listing = await sevenZipOutput(['l', '-slt', '--', path], path);
  // Entries follow the "----------" line, each a block of "Key = value" lines separated by a blank line.
  const body = listing.slice(listing.indexOf('\n----------') + 1);
  const entries: ArchiveEntry[] = [];
  for (const block of body.split(/\n\s*\n/)) {
    const field = (key: string): string | undefined => block.match(new RegExp(`^${key} = (.*)$`, 'm'))?.[1];
    const entryPath = field('Path');
    if (entryPath === undefined || field('Folder') === '+' || (field('Attributes') ?? '').startsWith('D')) continue;
    entries.push({ path: entryPath, size: Number(field('Size') ?? 0) });
  }
  return entries;
}

function pickEntry(path: string, entries: ArchiveEntry[], wanted: string | undefined): ArchiveEntry {
  const names = entries.map((e) => e.path).join(', ') || 'no files';
  if (wanted !== undefined) {
    const found = entries.find((e) => basename(e.path.replace(/\\/g, '/')).toLowerCase() === wanted.toLowerCase());
    if (!found)
      throw new DataError(DataErrorCode.BAD_INPUT, `${path} holds no ${wanted} (it holds ${names}); pass the archive that has it`);
    return found;
  }
  if (entries.length !== 1) {
    throw new DataError(DataErrorCode.BAD_INPUT, `${path} holds ${entries.length} files (${names}), not one dump; extract the one to read`);
  }
  return entries[0]!;
}

/** Counts the bytes flowing through `stream` into `progress.read`. */
function count(stream: Readable, progress: ByteProgress | undefined): Readable {
  if (progress) stream.on('data', (b: Buffer) => (progress.read += b.length));
  return stream;
}

/**
 * Spawns 7-Zip writing the decompressed bytes to its stdout and returns that as a stream that fails with a
 * `DataError` when 7-Zip exits with an error. Destroying the stream (a reader that stops early) stops 7-Zip.
 * `progress`, when given, counts the decompressed bytes.
 */
async function sevenZipStream(path: string, args: string[], input: Readable | undefined, progress?: ByteProgress): Promise<Readable> {
  const child = spawn(await sevenZip(), args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  const out = new PassThrough({ highWaterMark: CHUNK_BYTES });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4096)));
  count(child.stdout!, progress).pipe(out, { end: false });
  if (input) {
    input.pipe(child.stdin!);
    input.on('error', (err) => out.destroy(err));
    // 7-Zip closes its input early on bad data; the exit code reports it.
    child.stdin!.on('error', () => undefined);
  }
  child.on('error', (err) => out.destroy(new DataError(DataErrorCode.BAD_INPUT, `${path}: cannot run 7-Zip (${err.message})`)));
  child.on('close', (code) => {
    if (code === 0) out.end();
    else if (!out.destroyed) out.destroy(sevenZipFailure(path, code, stderr));
  });
  out.on('close', () => {
    // Closing the pipe ends a 7-Zip blocked writing to it (a signal alone may wait for that write).
    child.stdout!.destroy();
    if (child.exitCode === null) child.kill();
    input?.destroy();
  });
  return out;
}

/**
 * A readable stream of the file's text (UTF-8) in chunks of about 1 MiB; never the whole file at once. Compressed
 * input is chosen by the file's extension (see the module comment). Throws a `DataError` for a missing path, a
 * folder, `.zst`, or a `.7z` archive without the entry asked for; a damaged file fails the stream with one.
 */
export async function openTextStream(path: string, options: OpenTextOptions = {}): Promise<Readable> {
  const info = await statInput(path);
  if (!info.isFile()) throw new DataError(DataErrorCode.BAD_INPUT, `input ${path} is not a file`);
  const lower = path.toLowerCase();
  const progress = options.progress;
  if (lower.endsWith('.zst')) {
    throw new DataError(
      DataErrorCode.BAD_INPUT,
      `input ${path} is Zstandard-compressed, which the builder does not read; decompress it first (zstd -d), or use .gz, .bz2, .xz or .7z`,
    );
  }
  let stream: Readable;
  if (lower.endsWith('.7z')) {
    const entry = pickEntry(path, await listArchive(path), options.entry);
    progress?.expect(entry.size);
    stream = await sevenZipStream(path, ['x', '-so', '-bd', '--', path, entry.path], undefined, progress);
  } else {
    progress?.expect(info.size);
    const file = count(createReadStream(path, { highWaterMark: CHUNK_BYTES }), progress);
    const type = /\.(bz2|xz)$/.exec(lower)?.[1];
    if (type) stream = await sevenZipStream(path, ['x', '-si', '-so', '-bd', `-t${type === 'bz2' ? 'bzip2' : 'xz'}`], file);
    else if (lower.endsWith('.gz')) {
      stream = file.pipe(createGunzip({ chunkSize: CHUNK_BYTES }));
      file.on('error', (err) => stream.destroy(err));
      stream.on('error', () => file.destroy());
    } else stream = file;
  }
  stream.setEncoding('utf8');
  return stream;
}
