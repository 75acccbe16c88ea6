/**
 * Canonical transaction encoding, version 1: one type byte, then the RLP list of the fields in their
 * EIP-712 order followed by the 65-byte signature. The hash of a transaction is keccak256 of these bytes.
 */
import { addressFromBytes, addressToBytes, type Address } from '../address.js';
import { fromHex, toHex } from '../bytes.js';
import { keccak256 } from '../crypto/keccak.js';
import { signatureShapeError } from '../crypto/signature.js';
import { decodeRlp, encodeRlp, rlpToBytes, rlpToList, rlpToUint, uintToRlp, type RlpItem } from '../encoding/rlp.js';
import type { SignedTx, Tx, TxType } from './types.js';

export const TX_TYPE_BYTE: Record<TxType, number> = {
  transfer: 0x01,
  contribution: 0x02,
  model_version: 0x03,
  inference_reward: 0x04,
  equivocation: 0x05,
};

const EVIDENCE_KIND = { votes: 1, headers: 2 } as const;
/** Upper bound on one piece of evidence: a vote or a header with its seal is a few hundred bytes. */
const MAX_EVIDENCE_BYTES = 1024;

/** Upper bound on one encoded transaction; a model version names at most this many contributions. */
export const MAX_TX_BYTES = 64 * 1024;
export const MAX_CONTRIBUTIONS_PER_VERSION = 1024;

const a = (x: Address): Uint8Array => addressToBytes(x);
const h = (x: string): Uint8Array => fromHex(x, 32);
const u = uintToRlp;

function fields(tx: Tx): RlpItem[] {
  switch (tx.type) {
    case 'transfer':
      return [a(tx.from), a(tx.to), u(tx.amount), u(tx.nonce)];
    case 'contribution':
      return [a(tx.coordinator), a(tx.miner), h(tx.taskId), u(tx.modelVersion), h(tx.shard), u(tx.offset), u(tx.length),
        h(tx.gradientDigest), u(tx.quality), u(tx.reward)];
    case 'model_version':
      return [a(tx.coordinator), u(tx.version), u(tx.parentVersion), h(tx.manifestDigest), tx.contributions.map(h)];
    case 'inference_reward':
      return [a(tx.coordinator), a(tx.node), h(tx.requestId), u(tx.shares), u(tx.reward)];
    case 'equivocation':
      return [a(tx.reporter), a(tx.offender), u(EVIDENCE_KIND[tx.kind]), [tx.evidence[0], tx.evidence[1]]];
  }
}

/** keccak256 of the evidence pair's RLP: what the reporter's EIP-712 signature names. */
export function evidenceHash(evidence: [Uint8Array, Uint8Array]): `0x${string}` {
  return toHex(keccak256(encodeRlp([evidence[0], evidence[1]])));
}

export function encodeTx(tx: Tx): Uint8Array {
  const body = encodeRlp([...fields(tx), tx.signature]);
  const out = new Uint8Array(1 + body.length);
  out[0] = TX_TYPE_BYTE[tx.type];
  out.set(body, 1);
  return out;
}

export function txHash(bytes: Uint8Array): `0x${string}` {
  return toHex(keccak256(bytes));
}

export function signedTx(tx: Tx): SignedTx {
  const bytes = encodeTx(tx);
  return { tx, bytes, hash: txHash(bytes) };
}

export class TxDecodeError extends Error {
  override name = 'TxDecodeError';
}

const addr = (i: RlpItem, what: string): Address => addressFromBytes(rlpToBytes(i, 20, what));
const hash = (i: RlpItem, what: string): `0x${string}` => toHex(rlpToBytes(i, 32, what));
const u64 = (i: RlpItem, what: string): bigint => rlpToUint(i, 8, what);
const u256 = (i: RlpItem, what: string): bigint => rlpToUint(i, 32, what);

/** Decodes and shape-checks one transaction; throws TxDecodeError naming the bad field. Signatures are not verified here. */
export function decodeTx(bytes: Uint8Array): SignedTx {
  try {
    if (bytes.length === 0) throw new Error('empty transaction');
    if (bytes.length > MAX_TX_BYTES) throw new Error(`transaction larger than ${MAX_TX_BYTES} bytes`);
    const body = rlpToList(decodeRlp(bytes.subarray(1)), undefined, 'transaction');
    const sig = (i: RlpItem | undefined): Uint8Array => {
      const s = rlpToBytes(i ?? new Uint8Array(0), 65, 'signature');
      const problem = signatureShapeError(s);
      if (problem) throw new Error(problem);
      return s;
    };
    const expect = (n: number): void => {
      if (body.length !== n) throw new Error(`expected ${n} fields, got ${body.length}`);
    };
    let tx: Tx;
    switch (bytes[0]) {
      case 0x01:
        expect(5);
        tx = { type: 'transfer', from: addr(body[0]!, 'from'), to: addr(body[1]!, 'to'), amount: u256(body[2]!, 'amount'),
          nonce: u64(body[3]!, 'nonce'), signature: sig(body[4]) };
        break;
      case 0x02: {
        expect(11);
        const quality = Number(rlpToUint(body[8]!, 4, 'quality'));
        tx = { type: 'contribution', coordinator: addr(body[0]!, 'coordinator'), miner: addr(body[1]!, 'miner'),
          taskId: hash(body[2]!, 'taskId'), modelVersion: u64(body[3]!, 'modelVersion'), shard: hash(body[4]!, 'shard'),
          offset: u64(body[5]!, 'offset'), length: u64(body[6]!, 'length'), gradientDigest: hash(body[7]!, 'gradientDigest'),
          quality, reward: u256(body[9]!, 'reward'), signature: sig(body[10]) };
        break;
      }
      case 0x03: {
        expect(6);
        const list = rlpToList(body[4]!, undefined, 'contributions');
        if (list.length > MAX_CONTRIBUTIONS_PER_VERSION) throw new Error(`more than ${MAX_CONTRIBUTIONS_PER_VERSION} contributions`);
        tx = { type: 'model_version', coordinator: addr(body[0]!, 'coordinator'), version: u64(body[1]!, 'version'),
          parentVersion: u64(body[2]!, 'parentVersion'), manifestDigest: hash(body[3]!, 'manifestDigest'),
          contributions: list.map((c, i) => hash(c, `contributions[${i}]`)), signature: sig(body[5]) };
        break;
      }
      case 0x04:
        expect(6);
        tx = { type: 'inference_reward', coordinator: addr(body[0]!, 'coordinator'), node: addr(body[1]!, 'node'),
          requestId: hash(body[2]!, 'requestId'), shares: u64(body[3]!, 'shares'), reward: u256(body[4]!, 'reward'),
          signature: sig(body[5]) };
        break;
      case 0x05: {
        expect(5);
        const kind = Number(rlpToUint(body[2]!, 1, 'kind'));
        const pair = rlpToList(body[3]!, 2, 'evidence').map((e, i) => {
          const piece = rlpToBytes(e, undefined, `evidence[${i}]`);
          if (piece.length > MAX_EVIDENCE_BYTES) throw new Error(`evidence[${i}] is larger than ${MAX_EVIDENCE_BYTES} bytes`);
          return piece;
        });
        if (kind !== EVIDENCE_KIND.votes && kind !== EVIDENCE_KIND.headers) throw new Error(`unknown evidence kind ${kind}`);
        tx = { type: 'equivocation', reporter: addr(body[0]!, 'reporter'), offender: addr(body[1]!, 'offender'),
          kind: kind === EVIDENCE_KIND.votes ? 'votes' : 'headers', evidence: [pair[0]!, pair[1]!], signature: sig(body[4]) };
        break;
      }
      default:
        throw new Error(`unknown transaction type byte ${bytes[0]}`);
    }
    return { tx, bytes, hash: txHash(bytes) };
  } catch (err) {
    throw new TxDecodeError(`malformed transaction: ${(err as Error).message}`);
  }
}
