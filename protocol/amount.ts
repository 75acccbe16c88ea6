/**
 * ALC amounts as people write them ("12.5") and as the ledger keeps them (bigint base units, 18 decimals): the one
 * parser and formatter of the wallet UI and the ailo CLI (browser-safe).
 */

export const ALC_DECIMALS = 18;
const UNIT = 10n ** BigInt(ALC_DECIMALS);
const MAX_U256 = (1n << 256n) - 1n;
/** The thousands separator `formatAlc` writes: narrow no-break space. */
export const GROUP = '\u202f';

export type AmountParse = { ok: true; value: bigint } | { ok: false; problem: string };

/**
 * Parses a decimal ALC amount exactly (string arithmetic, never a float). The point is the decimal mark. Accepts
 * "1", "1.5", "0.000000000000000001", and thousands grouped by spaces (plain, no-break, thin or narrow no-break, as
 * `formatAlc` writes), underscores or apostrophes ("12 001", "1'000") or by commas where they cannot be a decimal mark ("1,000.5", "1,000,000"). A lone comma is refused as
 * ambiguous ("12,001" is twelve thousand and one in English and 12.001 in much of the world; "1,5" likewise).
 */
export function parseAlc(input: string): AmountParse {
  let text = input.trim();
  if (text === '') return { ok: false, problem: 'enter an amount' };
  const [wholePart, ...rest] = text.split('.');
  const commas = (wholePart!.match(/,/g) ?? []).length;
  if (commas === 1 && rest.length === 0) {
    return {
      ok: false,
      problem: `"${text}" is ambiguous: a comma may be a decimal mark or a thousands separator; write ${text.replace(',', '')} or ${text.replace(',', '.')} (a point is the decimal mark)`,
    };
  }
  if (/^\d{1,3}([, _'\u00a0\u2009\u202f]\d{3})+$/.test(wholePart!) && !(commas > 0 && /[ _'\u00a0\u2009\u202f]/.test(wholePart!))) {
    text = [wholePart!.replace(/[, _'\u00a0\u2009\u202f]/g, ''), ...rest].join('.');
  }
  if (text.startsWith('-')) return { ok: false, problem: 'the amount cannot be negative' };
  const m = /^(\d*)(?:\.(\d*))?$/.exec(text);
  if (!m || (m[1] === '' && (m[2] ?? '') === '')) return { ok: false, problem: 'write the amount as a number, e.g. 12.5' };
  const whole = m[1] || '0';
  const fraction = m[2] ?? '';
  if (fraction.length > ALC_DECIMALS)
    return { ok: false, problem: `ALC has ${ALC_DECIMALS} decimal places; this amount has ${fraction.length}` };
  const value = BigInt(whole) * UNIT + BigInt(fraction.padEnd(ALC_DECIMALS, '0') || '0');
  if (value > MAX_U256) return { ok: false, problem: 'the amount is too large' };
  return { ok: true, value };
}

/**
 * Formats base units as ALC with every significant decimal ("12.5", "0.000000000000000001"), optionally with
 * thousands grouped by a narrow no-break space (U+202F: "20 000"), as the SI brochure writes digit groups ("neither
 * dots nor commas", BIPM 2019, 5.4.4): a comma could be read as a decimal mark, and `parseAlc` reads it back.
 * With `maxDecimals`, longer fractions are cut (never rounded up) and marked with "…", for tight spaces.
 */
export function formatAlc(value: bigint, { group = true, maxDecimals }: { group?: boolean; maxDecimals?: number } = {}): string {
  const negative = value < 0n;
  const v = negative ? -value : value;
  const whole = (v / UNIT).toString();
  let fraction = (v % UNIT).toString().padStart(ALC_DECIMALS, '0').replace(/0+$/, '');
  if (maxDecimals !== undefined && fraction.length > maxDecimals) fraction = fraction.slice(0, maxDecimals) + '…';
  const grouped = group ? whole.replace(/\B(?=(\d{3})+(?!\d))/g, GROUP) : whole;
  return (negative ? '-' : '') + grouped + (fraction ? `.${fraction}` : '');
}
