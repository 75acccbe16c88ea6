/** Reduces an HTML fragment (a StackExchange post body) to readable plain text. Browser-safe. */
import { decodeEntities } from './entities.js';

const DROP_WITH_CONTENT = /<(script|style|svg|math)\b[^>]*>[\s\S]*?<\/\1\s*>/gi;
const COMMENT = /<!--[\s\S]*?-->/g;
const BLOCK_BREAK = /<\/?(?:p|div|pre|blockquote|h[1-6]|ul|ol|table|tr|hr|dl|dt|dd|section|article|figure)\b[^>]*>/gi;
const LINE_BREAK = /<br\s*\/?>/gi;
const LIST_ITEM = /\s*<li\b[^>]*>/gi;
const CELL = /<\/t[dh]\s*>/gi;
const IMAGE_ALT = /<img\b[^>]*?\balt\s*=\s*"([^"]*)"[^>]*>/gi;
const ANY_TAG = /<\/?[A-Za-z][^>]*>/g;

/** Block elements become paragraph breaks, list items "- " lines, inline tags vanish, entities are decoded. */
export function htmlToText(html: string): string {
  const text = html
    .replace(COMMENT, '')
    .replace(DROP_WITH_CONTENT, '')
    .replace(IMAGE_ALT, (_m, alt: string) => (alt ? `[${alt}]` : ''))
    .replace(LINE_BREAK, '\n')
    .replace(LIST_ITEM, '\n- ')
    .replace(CELL, '\t')
    .replace(BLOCK_BREAK, '\n\n')
    .replace(ANY_TAG, '');
  return tidyText(decodeEntities(text));
}

/** Trims trailing spaces on each line, collapses runs of blank lines to one, and trims the ends. */
export function tidyText(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .replace(/^\n+|\s+$/g, '');
}
