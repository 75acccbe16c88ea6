/**
 * The account's key material, made and used only in the browser. A password goes through scrypt (memory-hard);
 * from its output HKDF makes two unrelated keys: an AES-256-GCM key that seals the wallet key, and a login proof
 * that the node stores only as a salted hash. The node never sees the password, the AES key or the wallet key.
 * A 36-character recovery key seals a second copy of the wallet key the same way (HKDF only: it has 175 bits).
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex, type Hex } from '../../../protocol/bytes.js';
import type { KdfParams, SealedKey } from '../../../protocol/accounts.js';

export interface DerivedKeys {
  /** Opens and seals the wallet key; never leaves the browser. */
  encryptionKey: CryptoKey;
  /** What the node checks at login (or at recovery); unrelated to `encryptionKey` without the KDF output. */
  proof: Hex;
}

export const DEFAULT_KDF_COST = { N: 2 ** 17, r: 8, p: 1 } as const;
/** The weakest parameters this client accepts from a node, so a hostile node cannot ask for a cheap derivation. */
export const MIN_KDF_N = 2 ** 15;

export class WrongKeyError extends Error {
  override name = 'WrongKeyError';
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const subtle = (): SubtleCrypto => globalThis.crypto.subtle;

export function randomBytes(n: number): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

export function newKdfParams(cost: { N: number; r: number; p: number } = DEFAULT_KDF_COST): KdfParams {
  return { name: 'scrypt', N: cost.N, r: cost.r, p: cost.p, salt: toHex(randomBytes(16)) };
}

/** Why these KDF parameters must not be used, or undefined when they are acceptable. */
export function kdfParamsProblem(kdf: KdfParams, minN = MIN_KDF_N): string | undefined {
  if (kdf.name !== 'scrypt') return `unknown key derivation "${String(kdf.name)}"`;
  if (!Number.isInteger(kdf.N) || kdf.N < minN || kdf.N > 2 ** 20 || (kdf.N & (kdf.N - 1)) !== 0)
    return `scrypt N must be a power of two from ${minN} to 2^20`;
  if (kdf.r !== 8) return 'scrypt r must be 8';
  if (!Number.isInteger(kdf.p) || kdf.p < 1 || kdf.p > 4) return 'scrypt p must be 1 to 4';
  if (!/^0x[0-9a-f]{32,64}$/.test(kdf.salt)) return 'salt must be 16 to 32 bytes of hex';
  return undefined;
}

async function aesKey(raw: Uint8Array): Promise<CryptoKey> {
  return subtle().importKey('raw', raw as Uint8Array<ArrayBuffer>, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

async function split(master: Uint8Array, domain: string): Promise<DerivedKeys> {
  const encryption = hkdf(sha256, master, undefined, utf8(`ailo/v1/${domain}/wallet-encryption`), 32);
  const proof = hkdf(sha256, master, undefined, utf8(`ailo/v1/${domain}/proof`), 32);
  return { encryptionKey: await aesKey(encryption), proof: toHex(proof) };
}

/** scrypt(NFKC(password), salt) split into the encryption key and the login proof. */
export async function derivePasswordKeys(
  password: string,
  kdf: KdfParams,
  onProgress?: (fraction: number) => void,
  minN = MIN_KDF_N,
): Promise<DerivedKeys> {
  const problem = kdfParamsProblem(kdf, minN);
  if (problem) throw new Error(`refusing key derivation parameters: ${problem}`);
  const master = await scryptAsync(utf8(password.normalize('NFKC')), fromHex(kdf.salt), {
    N: kdf.N,
    r: kdf.r,
    p: kdf.p,
    dkLen: 32,
    asyncTick: 20,
    ...(onProgress ? { onProgress } : {}),
  });
  return split(master, 'password');
}

// Crockford's base32: no I, L, O or U, so a key read aloud or copied by hand has fewer look-alikes.
const RECOVERY_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const RECOVERY_KEY_LENGTH = 36;

function recoveryCheckChar(body: string): string {
  return RECOVERY_ALPHABET[sha256(utf8(body))[0]! & 31]!;
}

/** 35 random symbols (175 bits) and a check symbol that catches most typing mistakes. */
export function newRecoveryKey(): string {
  const body = Array.from(randomBytes(RECOVERY_KEY_LENGTH - 1), (b) => RECOVERY_ALPHABET[b & 31]).join('');
  return body + recoveryCheckChar(body);
}

/** Groups of four for reading: "ABCD-EFGH-...". */
export function formatRecoveryKey(key: string): string {
  return key.match(/.{1,4}/g)!.join('-');
}

export type RecoveryKeyParse = { ok: true; key: string } | { ok: false; problem: string };

/** Accepts what a person types: any case, spaces or dashes, O for 0 and I or L for 1. */
export function parseRecoveryKey(input: string): RecoveryKeyParse {
  const key = input.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  if (key.length !== RECOVERY_KEY_LENGTH)
    return { ok: false, problem: `a recovery key has ${RECOVERY_KEY_LENGTH} characters (dashes aside); this has ${key.length}` };
  const bad = [...key].find((c) => !RECOVERY_ALPHABET.includes(c));
  if (bad) return { ok: false, problem: `"${bad}" does not occur in recovery keys` };
  if (recoveryCheckChar(key.slice(0, -1)) !== key.at(-1))
    return { ok: false, problem: 'this is not a valid recovery key; check it for a typing mistake' };
  return { ok: true, key };
}

/** The recovery key's keys. The username salts them, so one key is useless against another account. */
export async function deriveRecoveryKeys(recoveryKey: string, username: string): Promise<DerivedKeys> {
  const parsed = parseRecoveryKey(recoveryKey);
  if (!parsed.ok) throw new Error(parsed.problem);
  const master = hkdf(sha256, utf8(parsed.key), utf8(`ailo/v1/recovery-salt/${username}`), utf8('ailo/v1/recovery'), 32);
  return split(master, 'recovery');
}

// The address is authenticated data: a sealed key moved onto another account's record fails to open.
const aad = (address: string): Uint8Array<ArrayBuffer> => utf8(`ailo-wallet-key/v1/${address.toLowerCase()}`) as Uint8Array<ArrayBuffer>;

export async function sealWalletKey(privateKey: Uint8Array, address: string, key: CryptoKey): Promise<SealedKey> {
  if (privateKey.length !== 32) throw new Error('a wallet key is 32 bytes');
  const iv = randomBytes(12);
  const ct = new Uint8Array(
    await subtle().encrypt(
      { name: 'AES-GCM', iv: iv as Uint8Array<ArrayBuffer>, additionalData: aad(address) },
      key,
      privateKey as Uint8Array<ArrayBuffer>,
    ),
  );
  return { v: 1, iv: toHex(iv), ct: toHex(ct) };
}

/** Opens a sealed wallet key; a wrong key, a changed ciphertext or another address all throw WrongKeyError. */
export async function openWalletKey(sealed: SealedKey, address: string, key: CryptoKey): Promise<Uint8Array> {
  if (sealed.v !== 1 || !/^0x[0-9a-f]{24}$/.test(sealed.iv) || !/^0x[0-9a-f]{96}$/.test(sealed.ct))
    throw new WrongKeyError('the sealed wallet key is malformed');
  try {
    const plain = await subtle().decrypt(
      { name: 'AES-GCM', iv: fromHex(sealed.iv) as Uint8Array<ArrayBuffer>, additionalData: aad(address) },
      key,
      fromHex(sealed.ct) as Uint8Array<ArrayBuffer>,
    );
    return new Uint8Array(plain);
  } catch {
    throw new WrongKeyError('the key does not open this wallet (wrong password or recovery key, or the stored copy was changed)');
  }
}
