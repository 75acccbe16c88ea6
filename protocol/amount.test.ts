import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatAlc, parseAlc } from './amount.js';

const ALC = 10n ** 18n;

describe('ALC amounts', () => {
  it('parse exactly, without float rounding', () => {
    expect(parseAlc('12.5')).toEqual({ ok: true, value: 12n * ALC + ALC / 2n });
    expect(parseAlc('0.1')).toEqual({ ok: true, value: ALC / 10n });
    expect(parseAlc('0.000000000000000001')).toEqual({ ok: true, value: 1n });
    expect(parseAlc('9007199254740993.000000000000000001')).toEqual({ ok: true, value: 9007199254740993n * ALC + 1n });
    expect(parseAlc(' 1,000,000.25 ')).toEqual({ ok: true, value: 1_000_000n * ALC + ALC / 4n });
    expect(parseAlc('1,000,000')).toEqual({ ok: true, value: 1_000_000n * ALC });
    expect(parseAlc('12,001.5')).toEqual({ ok: true, value: 12_001n * ALC + ALC / 2n });
    expect(parseAlc('12 001')).toEqual({ ok: true, value: 12_001n * ALC });
    expect(parseAlc("1'000")).toEqual({ ok: true, value: 1_000n * ALC });
    expect(parseAlc('.5')).toEqual({ ok: true, value: ALC / 2n });
    expect(parseAlc('5.')).toEqual({ ok: true, value: 5n * ALC });
  });

  it('refuse what is not an amount, saying why', () => {
    expect(parseAlc('')).toMatchObject({ ok: false, problem: 'enter an amount' });
    expect(parseAlc('0.0000000000000000001')).toMatchObject({ ok: false, problem: expect.stringMatching(/18 decimal places/) });
    expect(parseAlc('-1')).toMatchObject({ ok: false, problem: expect.stringMatching(/negative/) });
    for (const bad of ['1e18', '1,5', '1.2.3', 'abc', '.', '0x10', '1,0000', 'Infinity', '1,000 000', '1.000,5'])
      expect(parseAlc(bad).ok, bad).toBe(false);
    // A lone comma is refused as ambiguous, with both readings offered (issue 17: "12,001" was read as 12001).
    expect(parseAlc('12,001')).toMatchObject({ ok: false, problem: expect.stringMatching(/ambiguous.*write 12001 or 12\.001/) });
    expect(parseAlc('1' + '0'.repeat(80))).toMatchObject({ ok: false, problem: expect.stringMatching(/too large/) });
  });

  it('format every significant decimal and round-trip', () => {
    expect(formatAlc(12n * ALC + ALC / 2n)).toBe('12.5');
    expect(formatAlc(1n)).toBe('0.000000000000000001');
    // Grouped by narrow no-break spaces, never commas (issue 17: "20,000" printed by the CLI was refused when pasted).
    expect(formatAlc(1_234_567n * ALC)).toBe('1\u202f234\u202f567');
    for (const v of [20_000n * ALC, 1_000n * ALC + 1n, 999n * ALC]) expect(parseAlc(formatAlc(v))).toEqual({ ok: true, value: v });
    expect(parseAlc('20\u00a0000')).toEqual({ ok: true, value: 20_000n * ALC });
    expect(formatAlc(1_234_567n * ALC, { group: false })).toBe('1234567');
    expect(formatAlc(-3n * ALC)).toBe('-3');
    expect(formatAlc(2n * ALC + 1n, { maxDecimals: 4 })).toBe('2.0000…');
    expect(formatAlc(ALC / 2n, { maxDecimals: 4 })).toBe('0.5');
    expect(formatAlc(ALC - 1n, { maxDecimals: 2 })).toBe('0.99…');
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 1n << 200n }), (v) => {
        expect(parseAlc(formatAlc(v))).toEqual({ ok: true, value: v });
      }),
    );
  });
});
