/** Which addresses a block's transactions appear under in the per-address history index. */
import type { Address } from '../../protocol/address.js';
import type { Block } from '../block/block.js';
import { txParties } from '../tx/kinds.js';
import type { HistoryEntry } from './chain-store.js';

export function historyOf(block: Block): HistoryEntry[] {
  const height = block.header.height;
  const out: HistoryEntry[] = [];
  block.txs.forEach(({ tx, hash }, index) => {
    for (const address of new Set<Address>(txParties(tx))) out.push({ address, height, index, txHash: hash });
  });
  return out;
}
