/**
 * Reduces MediaWiki markup (the `<text>` of a `pages-articles` dump) to plain prose for training. Browser-safe.
 * It is a reduction, not a renderer: templates, tables, files, categories and references go; link labels, headings
 * and paragraph text stay.
 */
import { decodeEntities } from './entities.js';
import { tidyText } from './html-text.js';

// Tags whose content is not prose: references, formulas, galleries and similar.
const DROP_TAG_CONTENT =
  /<(ref|math|chem|gallery|timeline|imagemap|score|graph|mapframe|templatedata|syntaxhighlight|source|hiero)\b[^>]*?(?:\/>|>[\s\S]*?<\/\1\s*>)/gi;
const COMMENT = /<!--[\s\S]*?(?:-->|$)/g;
const NOWIKI = /<nowiki\s*>([\s\S]*?)<\/nowiki\s*>/gi;
const LINE_BREAK_TAG = /<br\s*\/?>/gi;
const ANY_TAG = /<\/?[A-Za-z][^<>]*>/g;
const MAGIC_WORD = /__[A-Z]+__/g;
const EXTERNAL_LINK = /\[(?:https?:|ftp:)?\/\/[^\s\]]+(?:\s+([^\]]*))?\]/g;
const HEADING = /^(={1,6})\s*(.*?)\s*\1\s*$/gm;
const LIST_MARKER = /^[*#:;]+[ \t]*/gm;
const RULE = /^-{4,}\s*$/gm;
const BOLD_ITALIC = /'{2,5}/g;
// Sections that hold only citations and navigation once the links are reduced.
const TRAILING_SECTIONS =
  /^==\s*(?:References|Notes|Footnotes|Citations|Sources|Bibliography|Further reading|External links|See also)\s*==\s*$/im;

// Link namespaces whose targets are media or page metadata, never prose.
const DROPPED_LINK_PREFIXES = new Set(['file', 'image', 'media', 'category']);

/** Removes every `{{ ... }}` template, nested templates counted; an unclosed one runs to the end. */
function removeTemplates(text: string): string {
  const parts: string[] = [];
  let depth = 0;
  let i = 0;
  let keptFrom = 0;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    const close = depth > 0 ? text.indexOf('}}', i) : -1;
    if (depth === 0) {
      if (open < 0) break;
      parts.push(text.slice(keptFrom, open));
      depth = 1;
      i = open + 2;
    } else if (close < 0) {
      keptFrom = text.length;
      break;
    } else if (open >= 0 && open < close) {
      depth++;
      i = open + 2;
    } else {
      depth--;
      i = close + 2;
      if (depth === 0) keptFrom = i;
    }
  }
  if (depth === 0) parts.push(text.slice(keptFrom));
  return parts.join('');
}

/** Tables: `{|` opens and `|}` closes, each at the start of a line (after optional spaces). */
function removeTables(text: string): string {
  const lines = text.split('\n');
  const kept: string[] = [];
  let depth = 0;
  for (const line of lines) {
    const trimmed = line.trimStart();
    if (trimmed.startsWith('{|')) {
      depth++;
      continue;
    }
    if (depth > 0) {
      if (trimmed.startsWith('|}')) depth--;
      continue;
    }
    kept.push(line);
  }
  return kept.join('\n');
}

/** Reduces `[[...]]` links: labels stay, file and category links (with nested links in captions) go. */
function reduceLinks(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const start = text.indexOf('[[', i);
    if (start < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, start);
    // Find the matching "]]", counting nested "[[".
    let depth = 0;
    let j = start;
    let end = -1;
    while (j < text.length) {
      if (text.startsWith('[[', j)) {
        depth++;
        j += 2;
      } else if (text.startsWith(']]', j)) {
        depth--;
        j += 2;
        if (depth === 0) {
          end = j;
          break;
        }
      } else {
        j++;
      }
    }
    if (end < 0) {
      // Unclosed link: keep the rest as text without the brackets.
      out += text.slice(start + 2);
      break;
    }
    out += linkText(text.slice(start + 2, end - 2));
    i = end;
  }
  return out;
}

function linkText(inner: string): string {
  const colon = inner.indexOf(':');
  const prefix = colon > 0 ? inner.slice(0, colon).trim().toLowerCase() : '';
  if (DROPPED_LINK_PREFIXES.has(prefix)) return '';
  // Interlanguage links such as [[de:Seite]] are not prose either.
  if (/^[a-z]{2,3}(?:-[a-z]+)?$/.test(prefix) && !inner.includes('|')) return '';
  const pipe = inner.indexOf('|');
  if (pipe < 0) {
    const target = inner.startsWith(':') ? inner.slice(1) : inner;
    return target.startsWith('#') ? target.slice(1) : target.replace(/#.*$/, '');
  }
  const label = inner.slice(pipe + 1);
  if (label.trim() === '') {
    // The pipe trick: [[Paris (band)|]] shows "Paris".
    return inner
      .slice(0, pipe)
      .replace(/^.*:/, '')
      .replace(/\s*\(.*\)\s*$/, '');
  }
  return reduceLinks(label);
}

function dropTrailingSections(text: string): string {
  const match = TRAILING_SECTIONS.exec(text);
  if (!match) return text;
  // Keep any later level-2 section that is prose (rare after references, but cheap to honour).
  const rest = text.slice(match.index + match[0].length);
  const next = /^==[^=].*?[^=]==\s*$/m.exec(rest);
  if (!next) return text.slice(0, match.index);
  return text.slice(0, match.index) + dropTrailingSections(rest.slice(next.index));
}

/** Wiki markup to plain text. */
export function wikitextToText(markup: string): string {
  let text = markup.replace(/\r\n?/g, '\n');
  text = text.replace(COMMENT, '');
  text = text.replace(DROP_TAG_CONTENT, '');
  // Protect nowiki content from the markup passes by escaping its markup characters as references.
  text = text.replace(NOWIKI, (_m, inner: string) => inner.replace(/[[\]{}'<>|=&]/g, (c) => `&#${c.charCodeAt(0)};`));
  text = removeTemplates(text);
  text = removeTables(text);
  text = dropTrailingSections(text);
  text = reduceLinks(text);
  text = text.replace(EXTERNAL_LINK, (_m, label: string | undefined) => label ?? '');
  text = text.replace(LINE_BREAK_TAG, '\n');
  text = text.replace(ANY_TAG, '');
  text = text.replace(MAGIC_WORD, '');
  text = text.replace(HEADING, (_m, _level: string, title: string) => title);
  text = text.replace(RULE, '');
  text = text.replace(LIST_MARKER, '');
  text = text.replace(BOLD_ITALIC, '');
  text = decodeEntities(text);
  return tidyText(text);
}
