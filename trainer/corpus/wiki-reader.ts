/**
 * Wikipedia / MediaWiki XML dumps (`*-pages-articles*.xml`): one document per article (namespace 0, not a
 * redirect), its title as the first line and its wiki markup reduced to text.
 */
import type { DocumentText } from './document.js';
import type { ByteProgress } from './input.js';
import { wikitextToText } from './wikitext.js';
import { streamXml } from './xml-stream.js';

export interface WikiReaderOptions {
  /** Articles whose reduced text is shorter than this many characters are skipped (stubs, disambiguation leftovers). */
  minChars?: number;
  progress?: ByteProgress;
}

/** The fields of one `<page>` the reader keeps while parsing it. */
interface PageFields {
  title: string[];
  ns: string[];
  text: string[];
  redirect: boolean;
}

export function readWikiDocuments(path: string, options: WikiReaderOptions = {}): AsyncGenerator<DocumentText> {
  const minChars = options.minChars ?? 1;
  return streamXml<DocumentText>(
    path,
    (parser, emit) => {
      let page: PageFields | undefined;
      let field: 'title' | 'ns' | 'text' | undefined;
      let inRevision = false;
      let revisionsSeen = 0;
      parser.onopentag = (tag) => {
        switch (tag.name) {
          case 'page':
            page = { title: [], ns: [], text: [], redirect: false };
            revisionsSeen = 0;
            break;
          case 'title':
          case 'ns':
            if (page && !inRevision) field = tag.name;
            break;
          case 'redirect':
            if (page) page.redirect = true;
            break;
          case 'revision':
            inRevision = true;
            revisionsSeen++;
            break;
          case 'text':
            // A full-history dump has many revisions per page; the first one in the file is kept.
            if (page && inRevision && revisionsSeen === 1) field = 'text';
            break;
        }
      };
      parser.ontext = (chunk) => {
        if (page && field) page[field].push(chunk);
      };
      parser.oncdata = parser.ontext;
      parser.onclosetag = (name) => {
        if (name === field) field = undefined;
        if (name === 'revision') inRevision = false;
        if (name !== 'page' || !page) return;
        const done = page;
        page = undefined;
        const ns = done.ns.join('').trim();
        const markup = done.text.join('');
        if (ns !== '0' || done.redirect || /^\s*#redirect\b/i.test(markup)) return;
        const title = done.title.join('').trim();
        const body = wikitextToText(markup);
        if (body.length < minChars) return;
        emit({ source: title, text: title ? `${title}\n\n${body}` : body, endOfDocument: true });
      };
    },
    { progress: options.progress },
  );
}
