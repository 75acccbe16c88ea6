/** JSON forms of ledger objects: amounts and big integers as decimal strings, addresses checksummed. */
import { toChecksumAddress } from '../../protocol/address.js';
import { toHex } from '../../protocol/bytes.js';
import type { Block, BlockHeader } from '../../chain/block/block.js';
import { txFieldsJson, type Json } from '../../chain/tx/kinds.js';
import type { SignedTx } from '../../chain/tx/types.js';
import type { HeaderView } from '../../protocol/ledger.js';

/** A transaction as the API shows it: hash, type, signature and raw bytes, then its fields (chain/tx/kinds.ts). */
export function txView({ tx, hash, bytes }: SignedTx): Json {
  return { hash, type: tx.type, signature: toHex(tx.signature), raw: toHex(bytes), ...txFieldsJson(tx) };
}

export function headerView(h: BlockHeader): HeaderView {
  return {
    chainId: h.chainId.toString(),
    height: h.height.toString(),
    parentHash: h.parentHash,
    timestamp: h.timestamp.toString(),
    proposer: toChecksumAddress(h.proposer),
    txRoot: h.txRoot,
    stateRoot: h.stateRoot,
  };
}

export function blockView(b: Block, withTxs: boolean): Json {
  return {
    hash: b.hash,
    ...headerView(b.header),
    signature: toHex(b.signature),
    txCount: b.txs.length,
    ...(withTxs ? { txs: b.txs.map(txView) } : { txHashes: b.txs.map((t) => t.hash) }),
  };
}
