/**
 * Evidence of equivocation: two messages one coordinator signed that an honest coordinator never signs both of.
 * - 'votes': two finality votes breaking a Casper FFG slashing condition (double vote or surround vote, finality.ts);
 * - 'headers': two different children of one block sealed by one proposer (honest nodes keep a promise never to seal
 *   a second child of a block, clique.ts SealedSlots; sealing again at a height on another fork is honest).
 * Self-authenticating: anyone can check it against the genesis coordinator set, so anyone may report it.
 */
import type { Address } from '../../protocol/address.js';
import { decodeBlock, encodeBlock, sealDigest, type Block } from '../block/block.js';
import { recoverAddressJs } from '../../protocol/signature.js';
import { networkDomain } from '../genesis-block.js';
import type { ChainSpec } from '../spec.js';
import type { EquivocationTx } from '../tx/types.js';
import { decodeVote, encodeVote, voteDigest, votesConflict, type Vote } from './finality.js';

/** A sealed block reduced to its header and seal (what header evidence carries; the seal covers the header only). */
export function headerEvidence(block: Block): Uint8Array {
  return encodeBlock({ ...block, txs: [] });
}

/** The evidence of two conflicting votes by one coordinator, ready to sign as an `equivocation` transaction. */
export function voteEvidence(a: Vote, b: Vote): Pick<EquivocationTx, 'offender' | 'kind' | 'evidence'> {
  return { offender: a.voter, kind: 'votes', evidence: [encodeVote(a), encodeVote(b)] };
}

/** Why the evidence does not convict `offender`, or undefined when it does. Recovers signatures in pure JS. */
export function evidenceFault(spec: ChainSpec, tx: Pick<EquivocationTx, 'offender' | 'kind' | 'evidence'>): string | undefined {
  if (!spec.coordinators.includes(tx.offender)) return `${tx.offender} is not a coordinator`;
  try {
    if (tx.kind === 'votes') {
      const genesis = networkDomain(spec).genesisHash;
      const [a, b] = tx.evidence.map((bytes) => {
        const fields = decodeVote(bytes);
        const voter = recoverAddressJs(voteDigest(genesis, fields.source, fields.target), fields.signature);
        return { voter, ...fields };
      }) as [Vote & { voter: Address | null }, Vote & { voter: Address | null }];
      if (a.voter !== tx.offender || b.voter !== tx.offender) return `both votes must be signed by ${tx.offender} on this network`;
      if (!votesConflict(a as Vote, b as Vote))
        return 'the two votes break no slashing condition (neither a double vote nor a surround vote)';
      return undefined;
    }
    const [a, b] = tx.evidence.map((bytes) => decodeBlock(bytes)) as [Block, Block];
    if (a.txs.length > 0 || b.txs.length > 0) return 'header evidence carries no transactions';
    for (const block of [a, b]) {
      if (block.header.chainId !== spec.chainId) return `block ${block.hash} is for chain ${block.header.chainId}`;
      if (block.header.proposer !== tx.offender || recoverAddressJs(sealDigest(block.header), block.signature) !== tx.offender) {
        return `both blocks must be sealed by ${tx.offender}`;
      }
    }
    if (a.header.height !== b.header.height || a.header.parentHash !== b.header.parentHash)
      return 'the two blocks are not children of one parent';
    if (a.hash === b.hash) return 'the two blocks are the same block';
    return undefined;
  } catch (err) {
    return `malformed evidence: ${(err as Error).message}`;
  }
}
