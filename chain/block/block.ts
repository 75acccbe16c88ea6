/**
 * Blocks and their canonical encoding, version 1.
 *   header bytes = 0x01 || rlp([chainId, height, parentHash, timestamp, proposer, txRoot, stateRoot])
 *   seal digest  = keccak256(header bytes)               (what the proposer signs)
 *   block hash   = keccak256(header bytes || signature)
 *   block bytes  = 0x01 || rlp([header fields, signature, [tx bytes...]])
 * Timestamps are milliseconds since the Unix epoch.
 */
import { addressFromBytes, addressToBytes, type Address } from '../../protocol/address.js';
import { concatBytes, fromHex, toHex, type Hex } from '../../protocol/bytes.js';
import { keccak256 } from '../../protocol/keccak.js';
import { signDigest, signatureShapeError } from '../../protocol/signature.js';
import { decodeRlp, encodeRlp, rlpToBytes, rlpToList, rlpToUint, uintToRlp, type RlpItem } from '../encoding/rlp.js';
import { merkleRoot } from '../merkle.js';
import { decodeTx } from '../tx/codec.js';
import type { SignedTx } from '../tx/types.js';

export const BLOCK_CODEC_VERSION = 0x01;
export const MAX_BLOCK_BYTES = 8 * 1024 * 1024;
export const MAX_TXS_PER_BLOCK = 10_000;

export interface BlockHeader {
  chainId: bigint;
  height: bigint;
  parentHash: Hex;
  timestamp: bigint;
  proposer: Address;
  txRoot: Hex;
  stateRoot: Hex;
}

export interface Block {
  header: BlockHeader;
  /** The proposer's 65-byte signature over the seal digest; empty for the genesis block. */
  signature: Uint8Array;
  txs: SignedTx[];
  hash: Hex;
}

function headerFields(h: BlockHeader): RlpItem[] {
  return [
    uintToRlp(h.chainId),
    uintToRlp(h.height),
    fromHex(h.parentHash, 32),
    uintToRlp(h.timestamp),
    addressToBytes(h.proposer),
    fromHex(h.txRoot, 32),
    fromHex(h.stateRoot, 32),
  ];
}

export function encodeHeader(h: BlockHeader): Uint8Array {
  return concatBytes(Uint8Array.of(BLOCK_CODEC_VERSION), encodeRlp(headerFields(h)));
}

export function sealDigest(h: BlockHeader): Uint8Array {
  return keccak256(encodeHeader(h));
}

export function blockHash(h: BlockHeader, signature: Uint8Array): Hex {
  return toHex(keccak256(encodeHeader(h), signature));
}

export function txRootOf(txs: SignedTx[]): Hex {
  return toHex(merkleRoot(txs.map((t) => fromHex(t.hash, 32))));
}

export function sealBlock(header: BlockHeader, txs: SignedTx[], proposerKey: Uint8Array): Block {
  const signature = signDigest(sealDigest(header), proposerKey);
  return { header, signature, txs, hash: blockHash(header, signature) };
}

export function encodeBlock(b: Block): Uint8Array {
  return concatBytes(Uint8Array.of(BLOCK_CODEC_VERSION), encodeRlp([headerFields(b.header), b.signature, b.txs.map((t) => t.bytes)]));
}

export class BlockDecodeError extends Error {
  override name = 'BlockDecodeError';
}

/** Decodes and shape-checks a block. Signatures, roots and state are checked on import, not here. */
export function decodeBlock(bytes: Uint8Array): Block {
  try {
    if (bytes.length > MAX_BLOCK_BYTES) throw new Error(`block larger than ${MAX_BLOCK_BYTES} bytes`);
    if (bytes[0] !== BLOCK_CODEC_VERSION) throw new Error(`unknown block codec version ${bytes[0]}`);
    const [fields, sig, txList] = rlpToList(decodeRlp(bytes.subarray(1)), 3, 'block');
    const f = rlpToList(fields!, 7, 'header');
    const header: BlockHeader = {
      chainId: rlpToUint(f[0]!, 8, 'chainId'),
      height: rlpToUint(f[1]!, 8, 'height'),
      parentHash: toHex(rlpToBytes(f[2]!, 32, 'parentHash')),
      timestamp: rlpToUint(f[3]!, 8, 'timestamp'),
      proposer: addressFromBytes(rlpToBytes(f[4]!, 20, 'proposer')),
      txRoot: toHex(rlpToBytes(f[5]!, 32, 'txRoot')),
      stateRoot: toHex(rlpToBytes(f[6]!, 32, 'stateRoot')),
    };
    const signature = rlpToBytes(sig!, undefined, 'signature');
    if (header.height > 0n) {
      const problem = signatureShapeError(signature);
      if (problem) throw new Error(`block signature: ${problem}`);
    } else if (signature.length !== 0) {
      throw new Error('the genesis block carries no signature');
    }
    const rawTxs = rlpToList(txList!, undefined, 'transactions');
    if (rawTxs.length > MAX_TXS_PER_BLOCK) throw new Error(`more than ${MAX_TXS_PER_BLOCK} transactions`);
    const txs = rawTxs.map((t, i) => {
      try {
        return decodeTx(rlpToBytes(t, undefined, 'transaction'));
      } catch (err) {
        throw new Error(`transaction ${i}: ${(err as Error).message}`);
      }
    });
    return { header, signature, txs, hash: blockHash(header, signature) };
  } catch (err) {
    throw new BlockDecodeError(`malformed block: ${(err as Error).message}`);
  }
}
