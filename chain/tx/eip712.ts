/**
 * EIP-712 digests of every transaction type, computed from precomputed type hashes and a per-network domain
 * separator rather than by re-encoding the type strings per transaction (ethers' TypedDataEncoder does the
 * latter and is several times slower; tests check both agree).
 *
 * The domain binds a signature to one network: its chainId and, as the domain's `salt`, its genesis block hash.
 * Two networks that share a chainId (every devnet, or a genesis copied with new allocations) still differ in
 * genesis, so a transfer signed for one recovers to a stranger's address on the other.
 */
import { addressToBytes } from '../address.js';
import { concatBytes, fromHex, hexInto, toHex, uintInto, uintToBytes, type Hex } from '../bytes.js';
import { keccak256 } from '../crypto/keccak.js';
import type { ContributionTx, EquivocationTx, InferenceRewardTx, ModelVersionTx, TransferTx, Tx } from './types.js';
import { evidenceHash } from './codec.js';
import { merkleRoot } from '../merkle.js';

const encoder = new TextEncoder();

export const DOMAIN_NAME = 'Ailo Network';
export const DOMAIN_VERSION = '1';

/** The typed-data definitions, in the shape ethers' signTypedData and eth_signTypedData_v4 take. */
export const EIP712_TYPES = {
  Transfer: [
    { name: 'from', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'amount', type: 'uint256' },
    { name: 'nonce', type: 'uint64' },
  ],
  Contribution: [
    { name: 'coordinator', type: 'address' },
    { name: 'miner', type: 'address' },
    { name: 'taskId', type: 'bytes32' },
    { name: 'modelVersion', type: 'uint64' },
    { name: 'shard', type: 'bytes32' },
    { name: 'offset', type: 'uint64' },
    { name: 'length', type: 'uint64' },
    { name: 'gradientDigest', type: 'bytes32' },
    { name: 'quality', type: 'uint32' },
    { name: 'reward', type: 'uint256' },
  ],
  ModelVersion: [
    { name: 'coordinator', type: 'address' },
    { name: 'version', type: 'uint64' },
    { name: 'parentVersion', type: 'uint64' },
    { name: 'manifestDigest', type: 'bytes32' },
    { name: 'contributionsRoot', type: 'bytes32' },
    { name: 'contributionCount', type: 'uint32' },
  ],
  InferenceReward: [
    { name: 'coordinator', type: 'address' },
    { name: 'node', type: 'address' },
    { name: 'requestId', type: 'bytes32' },
    { name: 'shares', type: 'uint64' },
    { name: 'reward', type: 'uint256' },
  ],
  Equivocation: [
    { name: 'reporter', type: 'address' },
    { name: 'offender', type: 'address' },
    { name: 'evidenceHash', type: 'bytes32' },
  ],
} as const;

export type PrimaryType = keyof typeof EIP712_TYPES;

function typeString(name: PrimaryType): string {
  return `${name}(${EIP712_TYPES[name].map((f) => `${f.type} ${f.name}`).join(',')})`;
}

const typeHash = (s: string): Uint8Array => keccak256(encoder.encode(s));
const TYPE_HASHES: Record<PrimaryType, Uint8Array> = {
  Transfer: typeHash(typeString('Transfer')),
  Contribution: typeHash(typeString('Contribution')),
  ModelVersion: typeHash(typeString('ModelVersion')),
  InferenceReward: typeHash(typeString('InferenceReward')),
  Equivocation: typeHash(typeString('Equivocation')),
};
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

const word = (v: bigint): Uint8Array => uintToBytes(v, 32);
const addr = (a: Parameters<typeof addressToBytes>[0]): Uint8Array => concatBytes(new Uint8Array(12), addressToBytes(a));
const b32 = (h: string): Uint8Array => fromHex(h, 32);

/** typeHash || from || to || amount || nonce, reused across calls: transfers are the hot path of block import. */
const transferWords = new Uint8Array(5 * 32);
transferWords.set(TYPE_HASHES.Transfer, 0);

function structHash(tx: Tx): Uint8Array {
  switch (tx.type) {
    case 'transfer': {
      const w = transferWords;
      w.fill(0, 32);
      hexInto(tx.from, w, 32 + 12);
      hexInto(tx.to, w, 64 + 12);
      uintInto(tx.amount, w, 96, 32);
      uintInto(tx.nonce, w, 128, 32);
      return keccak256(w);
    }
    case 'contribution':
      return keccak256(
        TYPE_HASHES.Contribution, addr(tx.coordinator), addr(tx.miner), b32(tx.taskId), word(tx.modelVersion),
        b32(tx.shard), word(tx.offset), word(tx.length), b32(tx.gradientDigest), word(BigInt(tx.quality)), word(tx.reward),
      );
    case 'model_version':
      return keccak256(
        TYPE_HASHES.ModelVersion, addr(tx.coordinator), word(tx.version), word(tx.parentVersion),
        b32(tx.manifestDigest), merkleRoot(tx.contributions.map((h) => b32(h))), word(BigInt(tx.contributions.length)),
      );
    case 'inference_reward':
      return keccak256(
        TYPE_HASHES.InferenceReward, addr(tx.coordinator), addr(tx.node), b32(tx.requestId), word(tx.shares), word(tx.reward),
      );
    case 'equivocation':
      return keccak256(TYPE_HASHES.Equivocation, addr(tx.reporter), addr(tx.offender), b32(evidenceHash(tx.evidence)));
  }
}

const PREFIX = Uint8Array.of(0x19, 0x01);

/** The digest a transaction's signer signs: keccak256(0x1901 || domainSeparator || hashStruct(message)). */
export function signingDigest(tx: Tx, network: NetworkDomain): Uint8Array {
  return keccak256(PREFIX, domainSeparator(network), structHash(tx));
}

/** The typed-data message of a transaction, as an EIP-712 wallet is asked to sign it. */
export function typedDataOf(tx: TransferTx | ContributionTx | ModelVersionTx | InferenceRewardTx | EquivocationTx): {
  primaryType: PrimaryType;
  message: Record<string, string | bigint | number>;
} {
  switch (tx.type) {
    case 'transfer':
      return { primaryType: 'Transfer', message: { from: tx.from, to: tx.to, amount: tx.amount, nonce: tx.nonce } };
    case 'contribution':
      return {
        primaryType: 'Contribution',
        message: {
          coordinator: tx.coordinator, miner: tx.miner, taskId: tx.taskId, modelVersion: tx.modelVersion, shard: tx.shard,
          offset: tx.offset, length: tx.length, gradientDigest: tx.gradientDigest, quality: tx.quality, reward: tx.reward,
        },
      };
    case 'model_version':
      return {
        primaryType: 'ModelVersion',
        message: {
          coordinator: tx.coordinator, version: tx.version, parentVersion: tx.parentVersion, manifestDigest: tx.manifestDigest,
          contributionsRoot: toHex(merkleRoot(tx.contributions.map((h) => b32(h)))),
          contributionCount: tx.contributions.length,
        },
      };
    case 'inference_reward':
      return {
        primaryType: 'InferenceReward',
        message: { coordinator: tx.coordinator, node: tx.node, requestId: tx.requestId, shares: tx.shares, reward: tx.reward },
      };
    case 'equivocation':
      return { primaryType: 'Equivocation', message: { reporter: tx.reporter, offender: tx.offender, evidenceHash: evidenceHash(tx.evidence) } };
  }
}
