import { describe, expect, it } from 'vitest';
import { decodeEntities } from './entities.js';
import { htmlToText } from './html-text.js';
import { wikitextToText } from './wikitext.js';

describe('decodeEntities', () => {
  it('decodes named, decimal and hex references and leaves unknown ones', () => {
    expect(decodeEntities('AT&amp;T &lt;b&gt; &quot;q&quot; caf&eacute; &#233; &#xE9; &mdash; &bogus;')).toBe(
      'AT&T <b> "q" café é é \u2014 &bogus;',
    );
    expect(decodeEntities('a&nbsp;b&#160;c')).toBe('a b c');
    expect(decodeEntities('&#0; &#x110000;')).toBe('\ufffd \ufffd');
  });

  it('decodes one level only', () => {
    expect(decodeEntities('&amp;lt;')).toBe('&lt;');
  });
});

describe('htmlToText', () => {
  it('turns blocks into paragraphs, lists into dash lines, and drops inline tags', () => {
    const html =
      '<p>Use <code>git rebase -i</code> &amp; <strong>squash</strong>.</p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n' +
      '<pre><code>if (a &lt; b) {\n  x();\n}\n</code></pre>\n<p>See <a href="https://example.org/x">the docs</a>.<br/>Done</p>';
    expect(htmlToText(html)).toBe('Use git rebase -i & squash.\n\n- one\n- two\n\nif (a < b) {\n  x();\n}\n\nSee the docs.\nDone');
  });

  it('drops scripts, styles and comments with their content', () => {
    expect(htmlToText('<p>a<script>alert(1)</script><!-- hidden --><style>p{}</style>b</p>')).toBe('ab');
  });
});

describe('wikitextToText', () => {
  it('removes templates, including nested ones', () => {
    expect(wikitextToText('{{Infobox city|name={{lang|fr|Lyon}}|pop=1}}Lyon is a city.{{cn}}')).toBe('Lyon is a city.');
  });

  it('keeps link labels and drops file and category links', () => {
    const markup =
      '[[File:Lyon.jpg|thumb|The [[Rhône]] at [[Lyon|night]]]]The [[Rhône (river)|Rhône]] meets the [[Saône]]s.\n' +
      '[[Category:Cities in France]]';
    expect(wikitextToText(markup)).toBe('The Rhône meets the Saônes.');
  });

  it('strips bold and italic quotes and reduces headings', () => {
    expect(wikitextToText("'''Lyon''' is ''large''.\n\n== History ==\nOld.\n=== Roman era ===\nOlder.")).toBe(
      'Lyon is large.\n\nHistory\nOld.\nRoman era\nOlder.',
    );
  });

  it('removes references and other tags, and decodes entities', () => {
    const markup =
      'Founded in 43&nbsp;BC.<ref name="a">{{cite book|title=X}}</ref> Mild<ref name="a"/> climate.<br />' +
      'Value &lt;small&gt; <sup>2</sup> <math>x^2</math>done &amp; dusted.';
    expect(wikitextToText(markup)).toBe('Founded in 43 BC. Mild climate.\nValue <small> 2 done & dusted.');
  });

  it('removes tables, external link URLs, comments, magic words and trailing reference sections', () => {
    const markup = [
      '__NOTOC__Intro text.<!-- editor note -->',
      '{| class="wikitable"',
      '|-',
      '! Year !! Population',
      '|-',
      '| 1900 || 100',
      '|}',
      'See [https://example.org the site] and [https://example.org/bare].',
      '* first item',
      '# second item',
      '== References ==',
      '{{reflist}}',
      '* [[Some source]]',
      '== External links ==',
      '* [https://example.org Official]',
    ].join('\n');
    expect(wikitextToText(markup)).toBe('Intro text.\nSee the site and .\nfirst item\nsecond item');
  });

  it('keeps nowiki content as literal text', () => {
    expect(wikitextToText("Write <nowiki>[[not a link]] and ''quotes''</nowiki> here.")).toBe("Write [[not a link]] and ''quotes'' here.");
  });

  it('survives unclosed markup without losing the text before it', () => {
    expect(wikitextToText('Start {{unclosed template')).toBe('Start');
    expect(wikitextToText('Start [[unclosed link')).toBe('Start unclosed link');
  });
});
