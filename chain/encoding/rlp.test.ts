import { encodeRlp as ethersEncodeRlp } from 'ethers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex } from '../../protocol/bytes.js';
import { decodeRlp, encodeRlp, RlpError, rlpToUint, uintToRlp, type RlpItem } from './rlp.js';

const { item: arbItem } = fc.letrec<{ item: RlpItem; list: RlpItem[] }>((tie) => ({
  item: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.uint8Array({ maxLength: 80 }),
    fc.uint8Array({ maxLength: 1 }),
    tie('list'),
  ),
  list: fc.array(tie('item'), { maxLength: 6 }),
}));

const rejects = (hex: string): void => {
  expect(() => decodeRlp(fromHex(hex))).toThrow(RlpError);
};

describe('RLP', () => {
  it('round trips every item and agrees byte for byte with ethers', () => {
    fc.assert(
      fc.property(arbItem, (item) => {
        const bytes = encodeRlp(item);
        expect(decodeRlp(bytes)).toEqual(item);
        expect(toHex(bytes)).toBe(ethersEncodeRlp(item as Parameters<typeof ethersEncodeRlp>[0]));
      }),
      { numRuns: 500 },
    );
  });

  it('round trips strings and lists across the 55/56-byte short/long boundary', () => {
    for (const n of [0, 1, 55, 56, 57, 255, 256, 1024, 70_000]) {
      const s = new Uint8Array(n).fill(0xab);
      expect(decodeRlp(encodeRlp(s))).toEqual(s);
      const list = Array.from({ length: n > 2000 ? 2000 : n }, () => Uint8Array.of(1));
      expect(decodeRlp(encodeRlp(list))).toEqual(list);
    }
  });

  it('round trips integers minimally and rejects leading zeros', () => {
    fc.assert(
      fc.property(fc.bigInt(0n, (1n << 256n) - 1n), fc.integer({ min: 1, max: 4 }), (v, zeros) => {
        const minimal = uintToRlp(v);
        expect(rlpToUint(decodeRlp(encodeRlp(minimal)), 32, 'v')).toBe(v);
        if (v > 0n) expect(minimal[0]).not.toBe(0);
        const padded = concatBytes(new Uint8Array(zeros), minimal);
        expect(() => rlpToUint(decodeRlp(encodeRlp(padded)), 40, 'v')).toThrow(/leading zero/);
      }),
    );
    expect(uintToRlp(0n)).toEqual(new Uint8Array(0));
    expect(() => rlpToUint(fromHex('0x010203'), 2, 'v')).toThrow(/longer than 2 bytes/);
  });

  it('rejects a single byte below 0x80 wrapped in a string header', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7f }), (b) => {
        rejects(toHex(Uint8Array.of(0x81, b)));
      }),
    );
    expect(decodeRlp(fromHex('0x8180'))).toEqual(Uint8Array.of(0x80));
  });

  it('rejects long-form lengths for payloads under 56 bytes and length prefixes with leading zeros', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 55 }), fc.boolean(), (n, isList) => {
        const payload = isList ? new Uint8Array(n).fill(0x01) : new Uint8Array(n).fill(0xaa);
        rejects(toHex(concatBytes(Uint8Array.of(isList ? 0xf8 : 0xb8, n), payload)));
      }),
    );
    rejects('0xb90038' + 'aa'.repeat(56));
    rejects('0xf90038' + '01'.repeat(56));
  });

  it('rejects trailing bytes and every truncation', () => {
    fc.assert(
      fc.property(arbItem, fc.uint8Array({ minLength: 1, maxLength: 4 }), (item, extra) => {
        const bytes = encodeRlp(item);
        expect(() => decodeRlp(concatBytes(bytes, extra))).toThrow(RlpError);
        for (let cut = 0; cut < bytes.length; cut++) expect(() => decodeRlp(bytes.subarray(0, cut))).toThrow(RlpError);
      }),
      { numRuns: 200 },
    );
  });

  it('rejects a list whose item runs past the list end', () => {
    // list of length 1 holding a 2-byte string header: the string overruns the list
    rejects('0xc1820102');
  });

  it('never throws anything but RlpError on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          const item = decodeRlp(bytes);
          expect(toHex(encodeRlp(item))).toBe(toHex(bytes));
        } catch (err) {
          expect(err).toBeInstanceOf(RlpError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
