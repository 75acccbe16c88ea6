/**
 * Canonical transaction encoding, version 1: one type byte, then the RLP list of the fields in wire order (each type's
 * entry in kinds.ts) followed by the 65-byte signature. The hash of a transaction is keccak256 of these bytes.
 */
import { toHex } from '../../protocol/bytes.js';
import { keccak256 } from '../../protocol/keccak.js';
import { signatureShapeError } from '../../protocol/signature.js';
import { decodeRlp, encodeRlp, rlpToBytes, rlpToList } from '../encoding/rlp.js';
import { TX_KINDS, txKind, type FieldCodec, type TxKind } from './kinds.js';
import type { SignedTx, Tx, TxType } from './types.js';

/** Upper bound on one encoded transaction. */
export const MAX_TX_BYTES = 64 * 1024;

const KIND_BY_BYTE = new Map<number, TxKind<Tx>>(Object.values(TX_KINDS).map((k) => [k.byte, k as unknown as TxKind<Tx>]));
const TYPE_BY_BYTE = new Map<number, TxType>(Object.entries(TX_KINDS).map(([type, k]) => [k.byte, type as TxType]));

/** The fields of a kind, typed loosely for the generic walk (each codec matches its field; the table checks that). */
const entries = (kind: TxKind<Tx>): readonly (readonly [string, FieldCodec<unknown>])[] =>
  kind.fields as readonly (readonly [string, FieldCodec<unknown>])[];

export function encodeTx(tx: Tx): Uint8Array {
  const kind = txKind(tx) as unknown as TxKind<Tx>;
  const values = tx as unknown as Record<string, unknown>;
  const body = encodeRlp([...entries(kind).map(([name, codec]) => codec.encode(values[name])), tx.signature]);
  const out = new Uint8Array(1 + body.length);
  out[0] = kind.byte;
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

/** Decodes and shape-checks one transaction; throws TxDecodeError naming the bad field. Signatures are not verified here. */
export function decodeTx(bytes: Uint8Array): SignedTx {
  try {
    if (bytes.length === 0) throw new Error('empty transaction');
    if (bytes.length > MAX_TX_BYTES) throw new Error(`transaction larger than ${MAX_TX_BYTES} bytes`);
    const kind = KIND_BY_BYTE.get(bytes[0]!);
    if (!kind) throw new Error(`unknown transaction type byte ${bytes[0]}`);
    const body = rlpToList(decodeRlp(bytes.subarray(1)), undefined, 'transaction');
    const fields = entries(kind);
    if (body.length !== fields.length + 1) throw new Error(`expected ${fields.length + 1} fields, got ${body.length}`);
    const tx: Record<string, unknown> = { type: TYPE_BY_BYTE.get(bytes[0]!) };
    fields.forEach(([name, codec], i) => {
      tx[name] = codec.decode(body[i]!, name);
    });
    const signature = rlpToBytes(body[fields.length]!, 65, 'signature');
    const problem = signatureShapeError(signature);
    if (problem) throw new Error(problem);
    tx.signature = signature;
    return { tx: tx as unknown as Tx, bytes, hash: txHash(bytes) };
  } catch (err) {
    throw new TxDecodeError(`malformed transaction: ${(err as Error).message}`);
  }
}
