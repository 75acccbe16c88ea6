/** One entry point over the dump readers: a path and a format in, a stream of document texts out. */
import type { DocumentText, DumpFormat } from './document.js';
import type { ByteProgress } from './input.js';
import { readJsonlDocuments } from './jsonl-reader.js';
import { readStackExchangeDocuments } from './stackexchange-reader.js';
import { readTextDocuments } from './text-reader.js';
import { readWikiDocuments } from './wiki-reader.js';

export interface ReadDocumentsOptions {
  /** JSONL only: the text field (default `text`). */
  field?: string;
  /** Counts the bytes read (see `ByteProgress`), for progress lines. */
  progress?: ByteProgress;
}

/**
 * The documents of a dump at `path` in `format`; compressed files and archives are read as `openTextStream` says.
 */
export function readDocuments(path: string, format: DumpFormat, options: ReadDocumentsOptions = {}): AsyncGenerator<DocumentText> {
  switch (format) {
    case 'text':
      return readTextDocuments(path, { progress: options.progress });
    case 'jsonl':
      return readJsonlDocuments(path, { field: options.field, progress: options.progress });
    case 'wiki':
      return readWikiDocuments(path, { progress: options.progress });
    case 'stackexchange':
      return readStackExchangeDocuments(path, { progress: options.progress });
  }
}
