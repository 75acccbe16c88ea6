/** JSON forms of ledger objects: amounts and big integers as decimal strings, addresses checksummed. */
import { toChecksumAddress } from '../../chain/address.js';
import { toHex } from '../../chain/bytes.js';
import type { Block, BlockHeader } from '../../chain/block/block.js';
import { assertNever, type SignedTx } from '../../chain/tx/types.js';
import type { HeaderView } from '../../protocol/ledger.js';

export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

export function txView({ tx, hash, bytes }: SignedTx): Json {
  const common = { hash, type: tx.type, signature: toHex(tx.signature), raw: toHex(bytes) };
  switch (tx.type) {
    case 'transfer':
      return { ...common, from: toChecksumAddress(tx.from), to: toChecksumAddress(tx.to), amount: tx.amount.toString(), nonce: tx.nonce.toString() };
    case 'contribution':
      return {
        ...common, coordinator: toChecksumAddress(tx.coordinator), miner: toChecksumAddress(tx.miner), taskId: tx.taskId,
        modelVersion: tx.modelVersion.toString(), shard: tx.shard, offset: tx.offset.toString(), length: tx.length.toString(),
        gradientDigest: tx.gradientDigest, quality: tx.quality, reward: tx.reward.toString(),
      };
    case 'model_version':
      return {
        ...common, coordinator: toChecksumAddress(tx.coordinator), version: tx.version.toString(), parentVersion: tx.parentVersion.toString(),
        manifestDigest: tx.manifestDigest, contributions: tx.contributions,
      };
    case 'inference_reward':
      return {
        ...common, coordinator: toChecksumAddress(tx.coordinator), node: toChecksumAddress(tx.node), requestId: tx.requestId,
        shares: tx.shares.toString(), reward: tx.reward.toString(),
      };
    case 'equivocation':
      return {
        ...common, reporter: toChecksumAddress(tx.reporter), offender: toChecksumAddress(tx.offender), kind: tx.kind,
        evidence: tx.evidence.map((e) => toHex(e)),
      };
    default:
      return assertNever(tx, 'transaction type');
  }
}

export function headerView(h: BlockHeader): HeaderView {
  return {
    chainId: h.chainId.toString(), height: h.height.toString(), parentHash: h.parentHash, timestamp: h.timestamp.toString(),
    proposer: toChecksumAddress(h.proposer), txRoot: h.txRoot, stateRoot: h.stateRoot,
  };
}

export function blockView(b: Block, withTxs: boolean): Json {
  return {
    hash: b.hash, ...headerView(b.header), signature: toHex(b.signature), txCount: b.txs.length,
    ...(withTxs ? { txs: b.txs.map(txView) } : { txHashes: b.txs.map((t) => t.hash) }),
  };
}
