/** Which addresses a block's transactions appear under in the per-address history index. */
import type { Address } from '../address.js';
import type { Block } from '../block/block.js';
import type { HistoryEntry } from './chain-store.js';

export function historyOf(block: Block): HistoryEntry[] {
  const height = block.header.height;
  const out: HistoryEntry[] = [];
  block.txs.forEach(({ tx, hash }, index) => {
    const parties = new Set<Address>();
    if (tx.type === 'transfer') parties.add(tx.from).add(tx.to);
    else if (tx.type === 'contribution') parties.add(tx.miner);
    else if (tx.type === 'inference_reward') parties.add(tx.node);
    else if (tx.type === 'equivocation') parties.add(tx.offender).add(tx.reporter);
    for (const address of parties) out.push({ address, height, index, txHash: hash });
  });
  return out;
}
