/**
 * One table per transaction type (issue 16): its type byte, its fields in wire order with how each is encoded (RLP),
 * decoded (naming the field in errors) and shown (JSON), its EIP-712 struct, who signs it and which accounts it
 * concerns. The codec (codec.ts), the EIP-712 digests (eip712.ts), the history index, the audit's account set and the
 * API's JSON view are generic over this table. Adding a type: its interface in types.ts (a member of `Tx`), its entry
 * here and its state transition (state/transition.ts); until each is written the compiler refuses the table.
 */
import { addressFromBytes, addressToBytes, toChecksumAddress, type Address } from '../../protocol/address.js';
import { fromHex, toHex, type Hex } from '../../protocol/bytes.js';
import { keccak256 } from '../../protocol/keccak.js';
import { encodeRlp, rlpToBytes, rlpToList, rlpToUint, uintToRlp, type RlpItem } from '../encoding/rlp.js';
import { merkleRoot } from '../merkle.js';
import type { ContributionTx, EquivocationTx, InferenceRewardTx, TransferTx, Tx, TxType } from './types.js';

/** A JSON value of the API's views (amounts and big integers as decimal strings, addresses checksummed). */
export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

/** How one field's value travels: its RLP item, back (throwing an Error that names `what`), and its JSON form. */
export interface FieldCodec<V> {
  /** The field's EIP-712 type where the field is signed as itself (every field of a plain struct). */
  eip712?: Eip712FieldType;
  encode(value: V): RlpItem;
  decode(item: RlpItem, what: string): V;
  json(value: V): Json;
}

/** The EIP-712 primary types of the transactions. */
export type PrimaryType = 'Transfer' | 'Contribution' | 'ModelVersion' | 'InferenceReward' | 'Equivocation';
/** The EIP-712 field types transactions use (all static: one 32-byte word each). */
export type Eip712FieldType = 'address' | 'uint256' | 'uint64' | 'uint32' | 'bytes32' | 'bool';
export interface Eip712Field {
  name: string;
  type: Eip712FieldType;
}
/** An EIP-712 message: addresses and bytes32 as 0x hex, integers as bigint or number. */
export type Eip712Message = Record<string, Hex | Address | bigint | number | boolean>;

type FieldName<T extends Tx> = Exclude<keyof T, 'type' | 'signature'> & string;
/** One field of `T`: its name and the codec of its value type (a wrong codec for a field is a compile error). */
export type FieldEntry<T extends Tx> = { [K in FieldName<T>]: readonly [K, FieldCodec<T[K]>] }[FieldName<T>];

export interface TxKind<T extends Tx> {
  /** The first byte of the encoded transaction. */
  byte: number;
  /** Every field but `type` and `signature`, in wire order (the RLP list, then the signature). */
  fields: readonly FieldEntry<T>[];
  primaryType: PrimaryType;
  eip712: readonly Eip712Field[];
  /**
   * The signed EIP-712 message, one value per `eip712` field; absent where the struct's fields are the transaction's
   * own (same names), which are then read from the transaction itself.
   */
  message?: (tx: T) => Eip712Message;
  /** The address whose signature the transaction must carry. */
  signer(tx: T): Address;
  /** The accounts it concerns: the per-address history index and the audit's account set. */
  parties(tx: T): Address[];
}

const address: FieldCodec<Address> = {
  eip712: 'address',
  encode: (v) => addressToBytes(v),
  decode: (item, what) => addressFromBytes(rlpToBytes(item, 20, what)),
  json: (v) => toChecksumAddress(v),
};
/** An unsigned integer of at most `bytes` bytes (8: uint64, 32: uint256), as a bigint; a decimal string in JSON. */
const uint = (bytes: 8 | 32): FieldCodec<bigint> => ({
  eip712: bytes === 8 ? 'uint64' : 'uint256',
  encode: (v) => uintToRlp(v),
  decode: (item, what) => rlpToUint(item, bytes, what),
  json: (v) => v.toString(),
});
const u64 = uint(8);
const u256 = uint(32);
/** A uint32 kept as a JS number (a number in JSON too). */
const u32: FieldCodec<number> = {
  eip712: 'uint32',
  encode: (v) => uintToRlp(v),
  decode: (item, what) => Number(rlpToUint(item, 4, what)),
  json: (v) => v,
};
/** A uint64 that is a count or index (a layer), kept as a JS number (a number in JSON too); at most 2^53 - 1. */
const u64Index: FieldCodec<number> = {
  eip712: 'uint64',
  encode: (v) => uintToRlp(v),
  decode: (item, what) => {
    const n = rlpToUint(item, 8, what);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${what} ${n} is larger than ${Number.MAX_SAFE_INTEGER}`);
    return Number(n);
  },
  json: (v) => v,
};
/** A boolean as the integer 0 or 1 (RLP: empty string or 0x01); `bool` in EIP-712. */
const flag: FieldCodec<boolean> = {
  eip712: 'bool',
  encode: (v) => uintToRlp(v ? 1 : 0),
  decode: (item, what) => {
    const n = rlpToUint(item, 1, what);
    if (n > 1n) throw new Error(`${what} must be 0 or 1, got ${n}`);
    return n === 1n;
  },
  json: (v) => v,
};
const bytes32: FieldCodec<Hex> = {
  eip712: 'bytes32',
  encode: (v) => fromHex(v, 32),
  decode: (item, what) => toHex(rlpToBytes(item, 32, what)),
  json: (v) => v,
};

/** A model version names at most this many contributions. */
export const MAX_CONTRIBUTIONS_PER_VERSION = 1024;
const contributionList: FieldCodec<Hex[]> = {
  encode: (v) => v.map((h) => fromHex(h, 32)),
  decode: (item, what) => {
    const list = rlpToList(item, undefined, what);
    if (list.length > MAX_CONTRIBUTIONS_PER_VERSION) throw new Error(`more than ${MAX_CONTRIBUTIONS_PER_VERSION} contributions`);
    return list.map((c, i) => bytes32.decode(c, `${what}[${i}]`));
  },
  json: (v) => v,
};

const EVIDENCE_KIND = { votes: 1, headers: 2 } as const;
/** Upper bound on one piece of evidence: a vote or a header with its seal is a few hundred bytes. */
const MAX_EVIDENCE_BYTES = 1024;
const evidenceKind: FieldCodec<EquivocationTx['kind']> = {
  encode: (v) => uintToRlp(EVIDENCE_KIND[v]),
  decode: (item, what) => {
    const n = Number(rlpToUint(item, 1, what));
    if (n === EVIDENCE_KIND.votes) return 'votes';
    if (n === EVIDENCE_KIND.headers) return 'headers';
    throw new Error(`unknown evidence ${what} ${n}`);
  },
  json: (v) => v,
};
const evidencePair: FieldCodec<[Uint8Array, Uint8Array]> = {
  encode: (v) => [v[0], v[1]],
  decode: (item, what) => {
    const pair = rlpToList(item, 2, what).map((e, i) => {
      const piece = rlpToBytes(e, undefined, `${what}[${i}]`);
      if (piece.length > MAX_EVIDENCE_BYTES) throw new Error(`${what}[${i}] is larger than ${MAX_EVIDENCE_BYTES} bytes`);
      return piece;
    });
    return [pair[0]!, pair[1]!];
  },
  json: (v) => v.map((e) => toHex(e)),
};

/** The EIP-712 struct of fields signed as themselves, in their order. */
function structOf<T extends Tx>(fields: readonly FieldEntry<T>[]): Eip712Field[] {
  return fields.map(([name, codec]) => {
    const type = (codec as FieldCodec<unknown>).eip712;
    if (!type) throw new Error(`field ${name} has no EIP-712 type of its own; give the struct explicitly`);
    return { name, type };
  });
}

const transferFields: readonly FieldEntry<TransferTx>[] = [
  ['from', address],
  ['to', address],
  ['amount', u256],
  ['nonce', u64],
];
const contributionFields: readonly FieldEntry<ContributionTx>[] = [
  ['coordinator', address],
  ['miner', address],
  ['taskId', bytes32],
  ['modelVersion', u64],
  ['shard', bytes32],
  ['offset', u64],
  ['length', u64],
  ['gradientDigest', bytes32],
  ['quality', u32],
  ['reward', u256],
];
const inferenceFields: readonly FieldEntry<InferenceRewardTx>[] = [
  ['coordinator', address],
  ['node', address],
  ['requestId', bytes32],
  ['spanStart', u64Index],
  ['spanEnd', u64Index],
  ['shares', u64],
  ['reward', u256],
];

/** keccak256 of the evidence pair's RLP: what an equivocation's EIP-712 message names instead of the evidence. */
export function evidenceHash(evidence: [Uint8Array, Uint8Array]): Hex {
  return toHex(keccak256(encodeRlp([evidence[0], evidence[1]])));
}

/** The table: every transaction type, the compiler checks there is one entry per member of `Tx`. */
export const TX_KINDS: { [K in TxType]: TxKind<Extract<Tx, { type: K }>> } = {
  transfer: {
    byte: 0x01,
    fields: transferFields,
    primaryType: 'Transfer',
    eip712: structOf(transferFields),
    signer: (tx) => tx.from,
    parties: (tx) => [tx.from, tx.to],
  },
  contribution: {
    byte: 0x02,
    fields: contributionFields,
    primaryType: 'Contribution',
    eip712: structOf(contributionFields),
    signer: (tx) => tx.coordinator,
    parties: (tx) => [tx.miner],
  },
  model_version: {
    byte: 0x03,
    fields: [
      ['coordinator', address],
      ['version', u64],
      ['parentVersion', u64],
      ['manifestDigest', bytes32],
      ['contributions', contributionList],
      ['outerLrPpm', u32],
      ['momentumRestart', flag],
    ],
    primaryType: 'ModelVersion',
    eip712: [
      { name: 'coordinator', type: 'address' },
      { name: 'version', type: 'uint64' },
      { name: 'parentVersion', type: 'uint64' },
      { name: 'manifestDigest', type: 'bytes32' },
      { name: 'contributionsRoot', type: 'bytes32' },
      { name: 'contributionCount', type: 'uint32' },
      { name: 'outerLrPpm', type: 'uint32' },
      { name: 'momentumRestart', type: 'bool' },
    ],
    message: (tx) => ({
      coordinator: tx.coordinator,
      version: tx.version,
      parentVersion: tx.parentVersion,
      manifestDigest: tx.manifestDigest,
      contributionsRoot: toHex(merkleRoot(tx.contributions.map((h) => fromHex(h, 32)))),
      contributionCount: tx.contributions.length,
      outerLrPpm: tx.outerLrPpm,
      momentumRestart: tx.momentumRestart,
    }),
    signer: (tx) => tx.coordinator,
    parties: () => [],
  },
  inference_reward: {
    byte: 0x04,
    fields: inferenceFields,
    primaryType: 'InferenceReward',
    eip712: structOf(inferenceFields),
    signer: (tx) => tx.coordinator,
    parties: (tx) => [tx.node],
  },
  equivocation: {
    byte: 0x05,
    fields: [
      ['reporter', address],
      ['offender', address],
      ['kind', evidenceKind],
      ['evidence', evidencePair],
    ],
    primaryType: 'Equivocation',
    eip712: [
      { name: 'reporter', type: 'address' },
      { name: 'offender', type: 'address' },
      { name: 'evidenceHash', type: 'bytes32' },
    ],
    message: (tx) => ({ reporter: tx.reporter, offender: tx.offender, evidenceHash: evidenceHash(tx.evidence) }),
    signer: (tx) => tx.reporter,
    parties: (tx) => [tx.offender, tx.reporter],
  },
};

/** The EIP-712 message of `tx` (its kind's `message`, or its own fields). */
export function eip712Message(tx: Tx): Eip712Message {
  const kind = txKind(tx);
  if (kind.message) return kind.message(tx);
  const values = tx as unknown as Eip712Message;
  return Object.fromEntries(kind.eip712.map((f) => [f.name, values[f.name]!]));
}

/** The table's entry for `tx`'s type (typed for any member of `Tx`). */
export function txKind<T extends Tx>(tx: T): TxKind<T> {
  return TX_KINDS[tx.type] as unknown as TxKind<T>;
}

/** Who must have signed the transaction. */
export function txSigner(tx: Tx): Address {
  return txKind(tx).signer(tx);
}

/**
 * The accounts a transaction concerns, the one list the per-address history index and the audit's account set use:
 * a transfer's sender and recipient, a contribution's miner, an inference reward's node, an equivocation's offender
 * and reporter; a model version concerns no account.
 */
export function txParties(tx: Tx): Address[] {
  return txKind(tx).parties(tx);
}

/** The JSON form of a transaction's fields, in wire order (see FieldCodec.json). */
export function txFieldsJson(tx: Tx): { [k: string]: Json } {
  const out: { [k: string]: Json } = {};
  for (const [name, codec] of txKind(tx).fields as readonly (readonly [string, FieldCodec<unknown>])[])
    out[name] = codec.json((tx as unknown as Record<string, unknown>)[name]);
  return out;
}
