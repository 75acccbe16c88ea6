/**
 * StackExchange data dumps (`Posts.xml`): each `<row>` is a post whose `Body` attribute holds escaped HTML.
 * Questions become "title, blank line, body"; answers are their body. One post is one document. The input may be
 * the site's `.7z` archive as published: its `Posts.xml` is read from it.
 */
import type { DocumentText } from './document.js';
import type { ByteProgress } from './input.js';
import { htmlToText } from './html-text.js';
import { streamXml } from './xml-stream.js';

export interface StackExchangeReaderOptions {
  /** Which `PostTypeId`s to keep; default questions (1) and answers (2). */
  postTypes?: readonly string[];
  progress?: ByteProgress;
}

export function readStackExchangeDocuments(path: string, options: StackExchangeReaderOptions = {}): AsyncGenerator<DocumentText> {
  const postTypes = new Set(options.postTypes ?? ['1', '2']);
  return streamXml<DocumentText>(
    path,
    (parser, emit) => {
      parser.onopentag = (tag) => {
        if (tag.name !== 'row') return;
        const attributes = tag.attributes as Record<string, string>;
        const type = attributes.PostTypeId;
        if (type !== undefined && !postTypes.has(type)) return;
        const body = htmlToText(attributes.Body ?? '');
        const title = (attributes.Title ?? '').trim();
        const text = title && body ? `${title}\n\n${body}` : title || body;
        if (text === '') return;
        emit({ source: `post ${attributes.Id ?? '?'}`, text, endOfDocument: true });
      };
    },
    { entry: 'Posts.xml', progress: options.progress },
  );
}
