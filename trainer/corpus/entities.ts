/** Decodes HTML character references (named, decimal, hex). Browser-safe. */

// The references that occur in Wikipedia and StackExchange text; unknown names are left as written.
const NAMED: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', ensp: ' ', emsp: ' ', thinsp: ' ', zwj: '', zwnj: '',
  shy: '', lrm: '', rlm: '', ndash: '\u2013', mdash: '\u2014', minus: '\u2212', hellip: '\u2026', lsquo: '\u2018',
  rsquo: '\u2019', sbquo: '\u201a', ldquo: '\u201c', rdquo: '\u201d', bdquo: '\u201e', laquo: '\u00ab',
  raquo: '\u00bb', lsaquo: '\u2039', rsaquo: '\u203a', bull: '\u2022', middot: '\u00b7', prime: '\u2032',
  Prime: '\u2033', dagger: '\u2020', Dagger: '\u2021', permil: '\u2030', copy: '\u00a9', reg: '\u00ae',
  trade: '\u2122', sect: '\u00a7', para: '\u00b6', deg: '\u00b0', plusmn: '\u00b1', times: '\u00d7',
  divide: '\u00f7', micro: '\u00b5', cent: '\u00a2', pound: '\u00a3', yen: '\u00a5', euro: '\u20ac',
  curren: '\u00a4', frac12: '\u00bd', frac14: '\u00bc', frac34: '\u00be', sup1: '\u00b9', sup2: '\u00b2',
  sup3: '\u00b3', ordf: '\u00aa', ordm: '\u00ba', iexcl: '\u00a1', iquest: '\u00bf', not: '\u00ac',
  larr: '\u2190', rarr: '\u2192', uarr: '\u2191', darr: '\u2193', harr: '\u2194', lArr: '\u21d0',
  rArr: '\u21d2', hArr: '\u21d4', le: '\u2264', ge: '\u2265', ne: '\u2260', asymp: '\u2248', equiv: '\u2261',
  infin: '\u221e', sum: '\u2211', prod: '\u220f', radic: '\u221a', part: '\u2202', int: '\u222b',
  forall: '\u2200', exist: '\u2203', isin: '\u2208', notin: '\u2209', cap: '\u2229', cup: '\u222a',
  sub: '\u2282', sup: '\u2283', and: '\u2227', or: '\u2228', empty: '\u2205', nabla: '\u2207', sdot: '\u22c5',
  alpha: '\u03b1', beta: '\u03b2', gamma: '\u03b3', delta: '\u03b4', epsilon: '\u03b5', zeta: '\u03b6',
  eta: '\u03b7', theta: '\u03b8', iota: '\u03b9', kappa: '\u03ba', lambda: '\u03bb', mu: '\u03bc', nu: '\u03bd',
  xi: '\u03be', omicron: '\u03bf', pi: '\u03c0', rho: '\u03c1', sigma: '\u03c3', tau: '\u03c4',
  upsilon: '\u03c5', phi: '\u03c6', chi: '\u03c7', psi: '\u03c8', omega: '\u03c9', Gamma: '\u0393',
  Delta: '\u0394', Theta: '\u0398', Lambda: '\u039b', Pi: '\u03a0', Sigma: '\u03a3', Phi: '\u03a6',
  Psi: '\u03a8', Omega: '\u03a9', Agrave: '\u00c0', Aacute: '\u00c1', Acirc: '\u00c2', Auml: '\u00c4',
  Aring: '\u00c5', AElig: '\u00c6', Ccedil: '\u00c7', Egrave: '\u00c8', Eacute: '\u00c9', Ecirc: '\u00ca',
  Iacute: '\u00cd', Ntilde: '\u00d1', Oacute: '\u00d3', Ouml: '\u00d6', Oslash: '\u00d8', Uacute: '\u00da',
  Uuml: '\u00dc', szlig: '\u00df', agrave: '\u00e0', aacute: '\u00e1', acirc: '\u00e2', atilde: '\u00e3',
  auml: '\u00e4', aring: '\u00e5', aelig: '\u00e6', ccedil: '\u00e7', egrave: '\u00e8', eacute: '\u00e9',
  ecirc: '\u00ea', euml: '\u00eb', igrave: '\u00ec', iacute: '\u00ed', icirc: '\u00ee', iuml: '\u00ef',
  ntilde: '\u00f1', ograve: '\u00f2', oacute: '\u00f3', ocirc: '\u00f4', otilde: '\u00f5', ouml: '\u00f6',
  oslash: '\u00f8', ugrave: '\u00f9', uacute: '\u00fa', ucirc: '\u00fb', uuml: '\u00fc', yacute: '\u00fd',
  yuml: '\u00ff', oelig: '\u0153', OElig: '\u0152', scaron: '\u0161', Scaron: '\u0160',
};

const REFERENCE = /&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]{1,31}));/g;

function fromCodePoint(cp: number, raw: string): string {
  if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return '\ufffd';
  return cp === 0xa0 ? ' ' : String.fromCodePoint(cp) || raw;
}

/** Replaces `&amp;`, `&#233;`, `&#xE9;` and the common named references with the characters they stand for. */
export function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(REFERENCE, (raw, dec: string | undefined, hex: string | undefined, name: string | undefined) => {
    if (dec !== undefined) return fromCodePoint(Number.parseInt(dec, 10), raw);
    if (hex !== undefined) return fromCodePoint(Number.parseInt(hex, 16), raw);
    return NAMED[name as string] ?? raw;
  });
}
