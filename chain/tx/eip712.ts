/**
 * EIP-712 digests of every transaction type, computed from precomputed type hashes and a per-network domain
 * separator rather than by re-encoding the type strings per transaction (ethers' TypedDataEncoder does the
 * latter and is several times slower; tests check both agree).
 *
 * The domain binds a signature to one network: its chainId and, as the domain's `salt`, its genesis block hash.
 * Two networks that share a chainId (every devnet, or a genesis copied with new allocations) still differ in
 * genesis, so a transfer signed for one recovers to a stranger's address on the other.
 */
import { fromHex, hexInto, uintInto, uintToBytes, type Hex } from '../../protocol/bytes.js';
import { keccak256 } from '../../protocol/keccak.js';
import { eip712Message, TX_KINDS, txKind, type Eip712Field, type Eip712Message, type PrimaryType } from './kinds.js';
import type { Tx } from './types.js';

const encoder = new TextEncoder();

export const DOMAIN_NAME = 'Ailo Network';
export const DOMAIN_VERSION = '1';

/** The typed-data definitions (kinds.ts), in the shape ethers' signTypedData and eth_signTypedData_v4 take. */
export const EIP712_TYPES = Object.fromEntries(Object.values(TX_KINDS).map((k) => [k.primaryType, k.eip712])) as Record<
  PrimaryType,
  readonly Eip712Field[]
>;

const typeString = (name: PrimaryType): string => `${name}(${EIP712_TYPES[name].map((f) => `${f.type} ${f.name}`).join(',')})`;
const typeHash = (s: string): Uint8Array => keccak256(encoder.encode(s));

/**
 * Per primary type, a reusable buffer typeHash || one 32-byte word per field: hashStruct is keccak256 of it (EIP-712
 * encodeData for static fields). Transfers are the hot path of block import, so no buffer is allocated per call.
 */
const STRUCT_WORDS = new Map<PrimaryType, Uint8Array>(
  Object.values(TX_KINDS).map((k) => {
    const words = new Uint8Array(32 * (1 + k.eip712.length));
    words.set(typeHash(typeString(k.primaryType)), 0);
    return [k.primaryType, words];
  }),
);

const DOMAIN_TYPE_HASH = typeHash('EIP712Domain(string name,string version,uint256 chainId,bytes32 salt)');

/** What a signature is bound to: the network's chainId and the hash of its genesis block (the domain's salt). */
export interface NetworkDomain {
  chainId: bigint;
  genesisHash: Hex;
}

/** The EIP-712 domain, in the shape ethers' signTypedData and eth_signTypedData_v4 take. */
export function eip712Domain(network: NetworkDomain): { name: string; version: string; chainId: bigint; salt: Hex } {
  return { name: DOMAIN_NAME, version: DOMAIN_VERSION, chainId: network.chainId, salt: network.genesisHash };
}

/** The domain's field list for eth_signTypedData_v4, whose JSON must name EIP712Domain's fields itself. */
export const EIP712_DOMAIN_FIELDS = [
  { name: 'name', type: 'string' },
  { name: 'version', type: 'string' },
  { name: 'chainId', type: 'uint256' },
  { name: 'salt', type: 'bytes32' },
] as const;

/** Separators by "chainId:genesisHash"; a node uses one, and the cap keeps domains named by strangers from piling up. */
const separators = new Map<string, Uint8Array>();
const MAX_SEPARATORS = 16;
export function domainSeparator(network: NetworkDomain): Uint8Array {
  const key = `${network.chainId}:${network.genesisHash}`;
  let sep = separators.get(key);
  if (!sep) {
    if (separators.size >= MAX_SEPARATORS) separators.clear();
    sep = keccak256(
      DOMAIN_TYPE_HASH,
      keccak256(encoder.encode(DOMAIN_NAME)),
      keccak256(encoder.encode(DOMAIN_VERSION)),
      uintToBytes(network.chainId, 32),
      fromHex(network.genesisHash, 32),
    );
    separators.set(key, sep);
  }
  return sep;
}

/** hashStruct(message) of a transaction: each field one word, addresses left-padded, integers big-endian. */
function structHash(tx: Tx): Uint8Array {
  const kind = txKind(tx);
  // A type whose struct is its own fields is read from the transaction, without building a message (block import).
  const message = kind.message ? kind.message(tx) : (tx as unknown as Eip712Message);
  const fields = kind.eip712;
  const w = STRUCT_WORDS.get(kind.primaryType)!;
  w.fill(0, 32);
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const at = 32 * (i + 1);
    const value = message[f.name]!;
    if (f.type === 'address') hexInto(value as string, w, at + 12);
    else if (f.type === 'bytes32') hexInto(value as string, w, at);
    else uintInto(typeof value === 'bigint' ? value : BigInt(value), w, at, 32);
  }
  return keccak256(w);
}

const PREFIX = Uint8Array.of(0x19, 0x01);

/** The digest a transaction's signer signs: keccak256(0x1901 || domainSeparator || hashStruct(message)). */
export function signingDigest(tx: Tx, network: NetworkDomain): Uint8Array {
  return keccak256(PREFIX, domainSeparator(network), structHash(tx));
}

/** The typed-data message of a transaction, as an EIP-712 wallet is asked to sign it. */
export function typedDataOf(tx: Tx): { primaryType: PrimaryType; message: Eip712Message } {
  return { primaryType: txKind(tx).primaryType, message: eip712Message(tx) };
}
