/**
 * The miner's wallet key: from --key-file or AILO_MINER_KEY, as 0x-hex. The miner signs its task requests with it,
 * so only the wallet's owner can take the wallet's task slots; the key never leaves this process.
 */
import { readFileSync, statSync } from 'node:fs';
import { toChecksumAddress } from '../../protocol/address.js';
import { fromHex } from '../../protocol/bytes.js';
import { privateKeyToAddress } from '../../protocol/signature.js';

export const KEY_ENV = 'AILO_MINER_KEY';

export class WalletKeyError extends Error {
  override name = 'WalletKeyError';
}

export interface WalletKey {
  privateKey: Uint8Array;
  /** EIP-55 checksummed. */
  wallet: string;
}

const HOW =
  `give the wallet's private key (0x followed by 64 hex digits) in a file only you can read: --key-file PATH ` +
  `(chmod 600 PATH), or in the environment variable ${KEY_ENV}`;

/** Parses a key as written in a key file or the environment: 0x-hex (or bare hex), surrounding whitespace ignored. */
export function parseWalletKey(text: string, source: string): WalletKey {
  const hex = text.trim().replace(/^0x/i, '');
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new WalletKeyError(`${source} does not hold a private key: ${HOW}`);
  const privateKey = fromHex(`0x${hex}`, 32);
  try {
    return { privateKey, wallet: toChecksumAddress(privateKeyToAddress(privateKey)) };
  } catch {
    throw new WalletKeyError(`${source} holds 32 bytes that are not a valid secp256k1 private key`);
  }
}

/** Reads the key from `keyFile` (which wins) or `env`; refuses a key file that group or others may read. */
export function loadWalletKey(o: { keyFile?: string; env?: string; platform?: NodeJS.Platform }): WalletKey {
  if (o.keyFile !== undefined) {
    let mode: number;
    try {
      mode = statSync(o.keyFile).mode;
    } catch (err) {
      throw new WalletKeyError(
        `--key-file ${o.keyFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ${HOW}`,
      );
    }
    if ((o.platform ?? process.platform) !== 'win32' && (mode & 0o077) !== 0) {
      throw new WalletKeyError(
        `--key-file ${o.keyFile} may be read by other users (mode ${(mode & 0o777).toString(8)}); ` +
          `anyone who reads it can spend your ALC. Run: chmod 600 ${o.keyFile}`,
      );
    }
    return parseWalletKey(readFileSync(o.keyFile, 'utf8'), `--key-file ${o.keyFile}`);
  }
  if (o.env !== undefined && o.env !== '') return parseWalletKey(o.env, KEY_ENV);
  throw new WalletKeyError(`the miner needs your wallet's key to sign its task requests: ${HOW}`);
}
