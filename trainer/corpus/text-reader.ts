/** Plain text and Markdown: each `.txt` / `.md` file under a folder (or one file) is one document. */
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { DocumentText } from './document.js';
import { DataError, DataErrorCode } from './errors.js';
import { openTextStream, statInput, type ByteProgress } from './input.js';

const TEXT_EXTENSIONS = /\.(txt|md|markdown)(\.(gz|bz2|xz))?$/i;
/** A file larger than this is handed to the builder in pieces of about this size. */
export const TEXT_PIECE_CHARS = 4 << 20;

export interface TextReaderOptions {
  /** Piece size for large files, in UTF-16 code units (tests use small values). */
  pieceChars?: number;
  progress?: ByteProgress;
}

/** The text files under `root` in a fixed order (code-point order of their relative paths), hidden entries skipped. */
export async function listTextFiles(root: string): Promise<string[]> {
  const info = await statInput(root);
  if (info.isFile()) return [root];
  const found: string[] = [];
  async function walk(dir: string): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && TEXT_EXTENSIONS.test(entry.name)) found.push(path);
    }
  }
  await walk(root);
  const key = (p: string) => relative(root, p).split(sep).join('/');
  return found.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * Where to cut a long text so the GPT-2 pre-tokenizer sees the same boundaries as in the whole text: before the
 * whitespace run that holds the last blank line, else the last line break; -1 when there is neither.
 */
export function pieceCut(text: string): number {
  let cut = text.lastIndexOf('\n\n');
  if (cut <= 0) cut = text.lastIndexOf('\n');
  if (cut <= 0) return -1;
  while (cut > 0 && /\s/.test(text[cut - 1] as string)) cut--;
  return cut > 0 ? cut : -1;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Streams each file as one document, in pieces when it is large. */
export async function* readTextDocuments(root: string, options: TextReaderOptions = {}): AsyncGenerator<DocumentText> {
  const pieceChars = options.pieceChars ?? TEXT_PIECE_CHARS;
  const files = await listTextFiles(root);
  if (files.length === 0) {
    throw new DataError(DataErrorCode.BAD_INPUT, `no .txt or .md files under ${root}`);
  }
  if (options.progress) {
    let bytes = 0;
    for (const file of files) bytes += (await stat(file)).size;
    options.progress.plan(bytes);
  }
  for (const file of files) {
    let pending = '';
    let pieces = 0;
    for await (const chunk of await openTextStream(file, { progress: options.progress })) {
      pending += pieces === 0 && pending === '' ? (chunk as string).replace(/^\ufeff/, '') : (chunk as string);
      while (pending.length >= pieceChars) {
        let cut = pieceCut(pending.slice(0, pieceChars));
        if (cut < 0) cut = isHighSurrogate(pending.charCodeAt(pieceChars - 1)) ? pieceChars - 1 : pieceChars;
        yield { source: file, text: pending.slice(0, cut), endOfDocument: false };
        pieces++;
        pending = pending.slice(cut);
      }
    }
    // An empty or blank file is no document; the tail of a file already begun always closes it.
    if (pieces === 0 && pending.trim() === '') continue;
    yield { source: file, text: pending, endOfDocument: true };
  }
}
