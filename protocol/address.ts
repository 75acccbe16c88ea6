/** Ethereum addresses: 20 bytes, written as EIP-55 checksummed hex at every edge. */
import { fromHex, toHex, type Hex } from './bytes.js';
import { keccak256 } from './keccak.js';

/** A lowercase 0x-prefixed 20-byte address: the one in-memory form, so equality is string equality. */
export type Address = Hex & { readonly __address: unique symbol };

const encoder = new TextEncoder();

export function toChecksumAddress(address: Address | string): string {
  const lower = address.toLowerCase().slice(2);
  const hash = toHex(keccak256(encoder.encode(lower))).slice(2);
  let out = '0x';
  for (let i = 0; i < 40; i++) out += parseInt(hash[i]!, 16) >= 8 ? lower[i]!.toUpperCase() : lower[i]!;
  return out;
}

export class AddressError extends Error {
  override name = 'AddressError';
}

/**
 * Parses user input: all-lowercase or all-uppercase hex is accepted as is (as in EIP-55),
 * mixed case must carry a valid checksum.
 */
export function parseAddress(input: unknown, what = 'address'): Address {
  if (typeof input !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(input)) {
    throw new AddressError(`${what} must be 0x followed by 40 hex digits`);
  }
  const body = input.slice(2);
  const mixed = body !== body.toLowerCase() && body !== body.toUpperCase();
  if (mixed && toChecksumAddress(input) !== input) throw new AddressError(`${what} has a bad EIP-55 checksum: ${input}`);
  return input.toLowerCase() as Address;
}

export function addressFromBytes(bytes: Uint8Array): Address {
  if (bytes.length !== 20) throw new AddressError('address must be 20 bytes');
  return toHex(bytes) as Address;
}

export function addressToBytes(address: Address): Uint8Array {
  return fromHex(address, 20);
}

/** The address of an uncompressed secp256k1 public key (65 bytes, 0x04 prefix). */
export function addressFromPublicKey(publicKey: Uint8Array): Address {
  return addressFromBytes(keccak256(publicKey.subarray(1)).subarray(12));
}

export const ZERO_ADDRESS = ('0x' + '00'.repeat(20)) as Address;
