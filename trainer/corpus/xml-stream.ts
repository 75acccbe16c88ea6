/** Drives a strict `sax` parser over a dump file chunk by chunk and yields what its handlers queue. */
import sax from 'sax';
import { DataError, DataErrorCode } from './errors.js';
import { openTextStream, type OpenTextOptions } from './input.js';

/** Wires handlers onto the parser; they push finished items into `emit`. */
export type XmlHandlers<T> = (parser: sax.SAXParser, emit: (item: T) => void) => void;

export async function* streamXml<T>(path: string, install: XmlHandlers<T>, open: OpenTextOptions = {}): AsyncGenerator<T> {
  const parser = sax.parser(true, { trim: false, normalize: false, position: true });
  const queue: T[] = [];
  install(parser, (item) => queue.push(item));
  let failure: Error | undefined;
  parser.onerror = (err) => {
    failure ??= err;
  };
  const fail = (err: Error) =>
    new DataError(DataErrorCode.BAD_INPUT, `${path}: not well-formed XML: ${err.message.replace(/\s+/g, ' ').trim()}`);
  for await (const chunk of await openTextStream(path, open)) {
    parser.write(chunk as string);
    if (failure) throw fail(failure);
    // Yield between chunks so a large dump never accumulates more than one chunk's documents.
    while (queue.length > 0) yield queue.shift() as T;
  }
  parser.close();
  if (failure) throw fail(failure);
  while (queue.length > 0) yield queue.shift() as T;
}
