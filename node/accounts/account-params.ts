/** The account API's request fields, checked into typed values at the edge, with errors that name the field. */
import { parseAddress, toChecksumAddress } from '../../protocol/address.js';
import { badRequest } from '../api/errors.js';
import type { KdfParams, RecoverySeal, SealedKey } from '../../protocol/accounts.js';

/** The cheapest scrypt cost the node stores; browsers use 2^17 and refuse less than 2^15. */
export const MIN_KDF_N = 2 ** 14;
export const MAX_KDF_N = 2 ** 20;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Refuses fields other than `allowed`, so a misspelt field is an error instead of being ignored. */
export function onlyFields(body: Record<string, unknown>, allowed: readonly string[], where = 'body'): void {
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw badRequest('BAD_REQUEST', `unknown field(s) in ${where}: ${unknown.join(', ')}`);
}

export function usernameField(value: unknown): string {
  if (typeof value !== 'string') throw badRequest('BAD_USERNAME', 'username must be a string');
  const username = value.trim().toLowerCase();
  if (!/^[a-z0-9][a-z0-9._-]{2,31}$/.test(username)) {
    throw badRequest(
      'BAD_USERNAME',
      'username must be 3 to 32 letters, digits, dots, dashes or underscores, starting with a letter or digit',
    );
  }
  return username;
}

/** A login or recovery proof: 32 bytes of hex. */
export function proofField(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(value))
    throw badRequest('BAD_PROOF', `${field} must be 0x followed by 64 hex digits`);
  return value.toLowerCase();
}

export function kdfField(value: unknown): KdfParams {
  if (!isRecord(value)) throw badRequest('BAD_KDF', 'kdf must be an object { name: "scrypt", N, r, p, salt }');
  onlyFields(value, ['name', 'N', 'r', 'p', 'salt'], 'kdf');
  const { name, N, r, p, salt } = value;
  if (name !== 'scrypt') throw badRequest('BAD_KDF', 'kdf.name must be "scrypt"');
  if (typeof N !== 'number' || !Number.isInteger(N) || N < MIN_KDF_N || N > MAX_KDF_N || (N & (N - 1)) !== 0) {
    throw badRequest('BAD_KDF', `kdf.N must be a power of two from ${MIN_KDF_N} to ${MAX_KDF_N}`);
  }
  if (r !== 8) throw badRequest('BAD_KDF', 'kdf.r must be 8');
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 4) throw badRequest('BAD_KDF', 'kdf.p must be an integer from 1 to 4');
  if (typeof salt !== 'string' || !/^0x[0-9a-f]{32,64}$/.test(salt))
    throw badRequest('BAD_KDF', 'kdf.salt must be 16 to 32 bytes of lowercase hex');
  return { name, N, r, p, salt };
}

export function sealedKeyField(value: unknown, field: string): SealedKey {
  if (!isRecord(value)) throw badRequest('BAD_SEALED_KEY', `${field} must be an object { v: 1, iv, ct }`);
  onlyFields(value, ['v', 'iv', 'ct'], field);
  if (value.v !== 1) throw badRequest('BAD_SEALED_KEY', `${field}.v must be 1`);
  if (typeof value.iv !== 'string' || !/^0x[0-9a-f]{24}$/.test(value.iv))
    throw badRequest('BAD_SEALED_KEY', `${field}.iv must be 12 bytes of lowercase hex`);
  if (typeof value.ct !== 'string' || !/^0x[0-9a-f]{96}$/.test(value.ct)) {
    throw badRequest('BAD_SEALED_KEY', `${field}.ct must be 48 bytes of lowercase hex (a 32-byte key and the 16-byte GCM tag)`);
  }
  return { v: 1, iv: value.iv, ct: value.ct };
}

export function recoveryField(value: unknown): RecoverySeal {
  if (!isRecord(value)) throw badRequest('BAD_REQUEST', 'recovery must be an object { proof, wallet }');
  onlyFields(value, ['proof', 'wallet'], 'recovery');
  return { proof: proofField(value.proof, 'recovery.proof'), wallet: sealedKeyField(value.wallet, 'recovery.wallet') };
}

export function addressField(value: unknown): string {
  return toChecksumAddress(parseAddress(value, 'address'));
}

/** A session or recovery token: 32 random bytes in base64url. */
export function tokenField(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(value))
    throw badRequest('BAD_TOKEN', `${field} must be a token this node issued`);
  return value;
}
