/** What the dump readers produce and the shard builder consumes. */

/**
 * A document's text, or one piece of it. Readers split a very large document (a huge text file) into pieces so it
 * never sits in memory whole; every piece but the last has `endOfDocument: false`, and the builder puts the
 * end-of-text token only where a document starts.
 */
export interface DocumentText {
  /** Where it came from (a file path, a page title, a line number), for logs and errors. */
  source: string;
  text: string;
  endOfDocument: boolean;
}

export type DumpFormat = 'text' | 'jsonl' | 'wiki' | 'stackexchange';

export const DUMP_FORMATS: readonly DumpFormat[] = ['text', 'jsonl', 'wiki', 'stackexchange'];
