/** JSON Lines: one JSON object per line, its text in a configurable field (a dotted path such as `meta.body` works). */
import { createInterface } from 'node:readline';
import type { DocumentText } from './document.js';
import { DataError, DataErrorCode } from './errors.js';
import { openTextStream, type ByteProgress } from './input.js';

export interface JsonlReaderOptions {
  /** The field that holds the document text; default `text`. */
  field?: string;
  progress?: ByteProgress;
}

function fieldValue(record: unknown, field: string): unknown {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return undefined;
  const object = record as Record<string, unknown>;
  if (Object.hasOwn(object, field)) return object[field];
  const dot = field.indexOf('.');
  if (dot < 0) return undefined;
  return fieldValue(object[field.slice(0, dot)], field.slice(dot + 1));
}

/** Streams each line's text field as one document; blank lines and empty texts are skipped, anything else is an error. */
export async function* readJsonlDocuments(path: string, options: JsonlReaderOptions = {}): AsyncGenerator<DocumentText> {
  const field = options.field ?? 'text';
  const lines = createInterface({ input: await openTextStream(path, { progress: options.progress }), crlfDelay: Infinity });
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber++;
    if (line.trim() === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (err) {
      throw new DataError(DataErrorCode.BAD_INPUT, `${path}:${lineNumber}: not valid JSON (${(err as Error).message})`);
    }
    const text = fieldValue(record, field);
    if (typeof text !== 'string') {
      const found = text === undefined ? 'no such field' : `a ${text === null ? 'null' : typeof text}`;
      throw new DataError(
        DataErrorCode.BAD_INPUT,
        `${path}:${lineNumber}: field "${field}" must be a string, found ${found}; pick the text field with --field`,
      );
    }
    if (text === '') continue;
    yield { source: `${path}:${lineNumber}`, text, endOfDocument: true };
  }
}
