/** One entry point over the dump readers: a path and a format in, a stream of document texts out. */
import type { DocumentText, DumpFormat } from './document.js';
import { readJsonlDocuments } from './jsonl-reader.js';
import { readStackExchangeDocuments } from './stackexchange-reader.js';
import { readTextDocuments } from './text-reader.js';
import { readWikiDocuments } from './wiki-reader.js';

export interface ReadDocumentsOptions {
  /** JSONL only: the text field (default `text`). */
  field?: string;
}

export function readDocuments(path: string, format: DumpFormat, options: ReadDocumentsOptions = {}): AsyncGenerator<DocumentText> {
  switch (format) {
    case 'text':
      return readTextDocuments(path);
    case 'jsonl':
      return readJsonlDocuments(path, { field: options.field });
    case 'wiki':
      return readWikiDocuments(path);
    case 'stackexchange':
      return readStackExchangeDocuments(path);
  }
}
