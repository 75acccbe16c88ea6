import { describe, expect, it } from 'vitest';
import { toChecksumAddress } from '../../../protocol/address.js';
import { checkRecipient } from './recipient.js';

const SELF = toChecksumAddress('0x' + '11'.repeat(20));
const TO = toChecksumAddress('0x' + 'ab'.repeat(20));

describe('recipient check', () => {
  it('accepts a checksummed address, and warns when there is no checksum', () => {
    expect(checkRecipient(TO, SELF)).toMatchObject({ ok: true, note: undefined });
    expect(checkRecipient(TO.toLowerCase(), SELF)).toMatchObject({ ok: true, note: expect.stringMatching(/no checksum/) });
  });

  it('refuses a wrong checksum, a wrong length, and the sender itself', () => {
    const i = TO.slice(2).search(/[a-fA-F]/) + 2;
    const flipped = TO.slice(0, i) + (TO[i] === TO[i]!.toLowerCase() ? TO[i]!.toUpperCase() : TO[i]!.toLowerCase()) + TO.slice(i + 1);
    expect(checkRecipient(flipped, SELF)).toMatchObject({ ok: false, problem: expect.stringMatching(/EIP-55 checksum/) });
    expect(checkRecipient(TO.slice(0, -1), SELF)).toMatchObject({ ok: false, problem: expect.stringMatching(/40 hex digits/) });
    expect(checkRecipient(SELF.toLowerCase(), SELF)).toMatchObject({ ok: false, problem: expect.stringMatching(/your own/) });
    expect(checkRecipient('  ', SELF)).toMatchObject({ ok: false });
  });
});
