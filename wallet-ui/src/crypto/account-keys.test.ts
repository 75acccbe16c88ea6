import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../../protocol/bytes.js';
import {
  DEFAULT_KDF_COST,
  derivePasswordKeys,
  deriveRecoveryKeys,
  formatRecoveryKey,
  newKdfParams,
  newRecoveryKey,
  openWalletKey,
  parseRecoveryKey,
  randomBytes,
  RECOVERY_KEY_LENGTH,
  sealWalletKey,
  WrongKeyError,
} from './account-keys.js';
import type { SealedKey } from '../../../protocol/accounts.js';

const CHEAP = { N: 2 ** 10, r: 8, p: 1 };
const ADDRESS = '0x' + 'ab'.repeat(20);
const flipBit = (hex: string, byte: number): `0x${string}` => {
  const b = fromHex(hex);
  b[byte]! ^= 1;
  return toHex(b);
};

describe('wallet key sealing', () => {
  it('round-trips a key under the password, and the default cost is scrypt 2^17', async () => {
    const kdf = newKdfParams();
    expect(kdf).toMatchObject({ name: 'scrypt', ...DEFAULT_KDF_COST });
    const keys = await derivePasswordKeys('hunter2 hunter2', kdf);
    const secret = randomBytes(32);
    const sealed = await sealWalletKey(secret, ADDRESS, keys.encryptionKey);
    const again = await derivePasswordKeys('hunter2 hunter2', kdf);
    expect(again.proof).toBe(keys.proof);
    expect(await openWalletKey(sealed, ADDRESS, again.encryptionKey)).toEqual(secret);
  });

  it('round-trips any key and password', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.string({ minLength: 1, maxLength: 40 }),
        async (secret, password) => {
          const kdf = newKdfParams(CHEAP);
          const sealed = await sealWalletKey(secret, ADDRESS, (await derivePasswordKeys(password, kdf, undefined, CHEAP.N)).encryptionKey);
          const opened = await openWalletKey(sealed, ADDRESS, (await derivePasswordKeys(password, kdf, undefined, CHEAP.N)).encryptionKey);
          expect(opened).toEqual(secret);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('refuses a wrong password, another salt, another address, and any changed byte', async () => {
    const kdf = newKdfParams(CHEAP);
    const keys = await derivePasswordKeys('right password', kdf, undefined, CHEAP.N);
    const secret = randomBytes(32);
    const sealed = await sealWalletKey(secret, ADDRESS, keys.encryptionKey);
    const wrong = await derivePasswordKeys('wrong password', kdf, undefined, CHEAP.N);
    await expect(openWalletKey(sealed, ADDRESS, wrong.encryptionKey)).rejects.toBeInstanceOf(WrongKeyError);
    const otherSalt = await derivePasswordKeys('right password', newKdfParams(CHEAP), undefined, CHEAP.N);
    await expect(openWalletKey(sealed, ADDRESS, otherSalt.encryptionKey)).rejects.toBeInstanceOf(WrongKeyError);
    await expect(openWalletKey(sealed, '0x' + 'cd'.repeat(20), keys.encryptionKey)).rejects.toBeInstanceOf(WrongKeyError);
    for (let byte = 0; byte < 48; byte++) {
      await expect(openWalletKey({ ...sealed, ct: flipBit(sealed.ct, byte) }, ADDRESS, keys.encryptionKey)).rejects.toBeInstanceOf(
        WrongKeyError,
      );
    }
    await expect(openWalletKey({ ...sealed, iv: flipBit(sealed.iv, 0) }, ADDRESS, keys.encryptionKey)).rejects.toBeInstanceOf(
      WrongKeyError,
    );
    await expect(
      openWalletKey({ ...sealed, ct: sealed.ct.slice(0, -2) as `0x${string}` }, ADDRESS, keys.encryptionKey),
    ).rejects.toBeInstanceOf(WrongKeyError);
    await expect(openWalletKey({ ...sealed, v: 2 } as unknown as SealedKey, ADDRESS, keys.encryptionKey)).rejects.toBeInstanceOf(
      WrongKeyError,
    );
  });

  it('never seals the same way twice, and the login proof is not the encryption key', async () => {
    const kdf = newKdfParams(CHEAP);
    const keys = await derivePasswordKeys('pw pw pw pw', kdf, undefined, CHEAP.N);
    const secret = randomBytes(32);
    const a = await sealWalletKey(secret, ADDRESS, keys.encryptionKey);
    const b = await sealWalletKey(secret, ADDRESS, keys.encryptionKey);
    expect(a.iv).not.toBe(b.iv);
    expect(a.ct).not.toBe(b.ct);
    // The proof cannot open the key: used as an AES key it fails.
    const proofAsKey = await globalThis.crypto.subtle.importKey('raw', fromHex(keys.proof) as Uint8Array<ArrayBuffer>, 'AES-GCM', false, [
      'decrypt',
    ]);
    await expect(openWalletKey(a, ADDRESS, proofAsKey)).rejects.toBeInstanceOf(WrongKeyError);
  });

  it('normalizes the password (NFKC) so the same text typed two ways opens the key', async () => {
    const kdf = newKdfParams(CHEAP);
    const composed = await derivePasswordKeys('caf\u00e9 \ufb01le', kdf, undefined, CHEAP.N);
    const decomposed = await derivePasswordKeys('cafe\u0301 file', kdf, undefined, CHEAP.N);
    expect(decomposed.proof).toBe(composed.proof);
  });

  it('refuses weak or malformed KDF parameters', async () => {
    await expect(derivePasswordKeys('pw', newKdfParams({ N: 2 ** 12, r: 8, p: 1 }))).rejects.toThrow(/power of two/);
    await expect(derivePasswordKeys('pw', { ...newKdfParams(), r: 1 })).rejects.toThrow(/r must be 8/);
    await expect(derivePasswordKeys('pw', { ...newKdfParams(), salt: '0x00' })).rejects.toThrow(/salt/);
  });
});

describe('recovery keys', () => {
  it('are 36 characters from the Crockford alphabet with a working check symbol', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const key = newRecoveryKey();
      expect(key).toMatch(/^[0-9A-HJKMNP-TV-Z]{36}$/);
      expect(parseRecoveryKey(key)).toEqual({ ok: true, key });
      seen.add(key);
    }
    expect(seen.size).toBe(200);
    expect(RECOVERY_KEY_LENGTH).toBe(36);
  });

  it('accept what people type: lower case, dashes, spaces, O for 0, I and L for 1', () => {
    const key = newRecoveryKey();
    const typed = formatRecoveryKey(key).toLowerCase().replace(/-/g, ' - ').replace(/0/g, 'o').replace(/1/g, 'l');
    expect(parseRecoveryKey(typed)).toEqual({ ok: true, key });
    expect(formatRecoveryKey(key)).toMatch(/^(\w{4}-){8}\w{4}$/);
  });

  it('catch most single-symbol typos and wrong lengths', () => {
    let caught = 0;
    const trials = 300;
    for (let i = 0; i < trials; i++) {
      const key = newRecoveryKey();
      const pos = i % 35;
      const replacement = key[pos] === 'A' ? 'B' : 'A';
      if (!parseRecoveryKey(key.slice(0, pos) + replacement + key.slice(pos + 1)).ok) caught++;
    }
    expect(caught / trials).toBeGreaterThan(0.9);
    expect(parseRecoveryKey(newRecoveryKey().slice(1))).toMatchObject({ ok: false, problem: expect.stringMatching(/36 characters/) });
    expect(parseRecoveryKey('U'.repeat(36))).toMatchObject({ ok: false });
  });

  it('open the second copy only for the same username', async () => {
    const key = newRecoveryKey();
    const keys = await deriveRecoveryKeys(key, 'ann');
    const secret = randomBytes(32);
    const sealed = await sealWalletKey(secret, ADDRESS, keys.encryptionKey);
    expect(
      await openWalletKey(sealed, ADDRESS, (await deriveRecoveryKeys(formatRecoveryKey(key).toLowerCase(), 'ann')).encryptionKey),
    ).toEqual(secret);
    await expect(openWalletKey(sealed, ADDRESS, (await deriveRecoveryKeys(key, 'bob')).encryptionKey)).rejects.toBeInstanceOf(
      WrongKeyError,
    );
    await expect(openWalletKey(sealed, ADDRESS, (await deriveRecoveryKeys(newRecoveryKey(), 'ann')).encryptionKey)).rejects.toBeInstanceOf(
      WrongKeyError,
    );
    expect((await deriveRecoveryKeys(key, 'ann')).proof).toBe(keys.proof);
    expect((await deriveRecoveryKeys(key, 'bob')).proof).not.toBe(keys.proof);
  });
});
