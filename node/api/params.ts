/** Turns untrusted request fields into typed values once, at the edge, with errors that name the field. */
import { parseAddress, type Address } from '../../protocol/address.js';
import { fromHex, isHex, type Hex } from '../../protocol/bytes.js';
import { signatureShapeError } from '../../protocol/signature.js';
import { badRequest } from './errors.js';

const MAX_U256 = (1n << 256n) - 1n;
const MAX_U64 = (1n << 64n) - 1n;

export function addressParam(value: unknown, field: string): Address {
  return parseAddress(value, field);
}

/** A base-unit amount: a decimal string (JSON numbers lose precision above 2^53 and are refused). */
export function amountParam(value: unknown, field: string): bigint {
  if (typeof value === 'number') throw badRequest('BAD_AMOUNT', `${field} must be a decimal string of base units, not a JSON number`);
  if (typeof value !== 'string' || !/^[0-9]{1,80}$/.test(value)) {
    throw badRequest('BAD_AMOUNT', `${field} must be a non-negative integer of base units written as a decimal string`);
  }
  const n = BigInt(value);
  if (n > MAX_U256) throw badRequest('BAD_AMOUNT', `${field} overflows 256 bits`);
  return n;
}

/** A uint64 given as a JSON integer or a decimal string. */
export function uint64Param(value: unknown, field: string): bigint {
  let n: bigint;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) n = BigInt(value);
  else if (typeof value === 'string' && /^[0-9]{1,80}$/.test(value)) n = BigInt(value);
  else throw badRequest('BAD_REQUEST', `${field} must be a non-negative integer`);
  if (n > MAX_U64) throw badRequest('BAD_REQUEST', `${field} overflows 64 bits`);
  return n;
}

/**
 * A chain id in the forms Ethereum tools send it: a JSON integer, a decimal string, or a 0x-prefixed hex quantity
 * (what `eth_chainId` returns, EIP-695). Anything else (an array, "0x", a float) is refused, never coerced.
 */
export function chainIdParam(value: unknown, field: string): bigint {
  if (typeof value === 'string' && /^0x[0-9a-fA-F]{1,64}$/.test(value)) {
    const n = BigInt(value);
    if (n > MAX_U256) throw badRequest('BAD_REQUEST', `${field} overflows 256 bits`);
    return n;
  }
  if (typeof value === 'number' || (typeof value === 'string' && /^[0-9]+$/.test(value))) return uint64Param(value, field);
  throw badRequest(
    'BAD_REQUEST',
    `${field} must be a number, a decimal string or a 0x-prefixed hex string (as eth_chainId returns), got ${JSON.stringify(value)}`,
  );
}

export function signatureParam(value: unknown, field: string): Uint8Array {
  if (!isHex(value, 65)) throw badRequest('TX_BAD_SIGNATURE', `${field} must be 0x followed by 130 hex digits (r, s, v)`);
  const sig = fromHex(value, 65);
  const problem = signatureShapeError(sig);
  if (problem) throw badRequest('TX_BAD_SIGNATURE', `${field}: ${problem}`);
  return sig;
}

export function hashParam(value: unknown, field: string): Hex {
  if (!isHex(value, 32)) throw badRequest('BAD_HASH', `${field} must be 0x followed by 64 hex digits`);
  return value.toLowerCase() as Hex;
}

/** An optional integer query parameter within bounds. */
export function intQuery(value: string | string[] | undefined, field: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^[0-9]+$/.test(value))
    throw badRequest('BAD_REQUEST', `${field} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw badRequest('BAD_REQUEST', `${field} must be from ${min} to ${max}, got ${value}`);
  return n;
}

/** An optional block height query parameter (a uint64 in decimal). */
export function heightQuery(value: string | string[] | undefined, field: string): bigint | undefined {
  return value === undefined ? undefined : uint64Param(value, field);
}
