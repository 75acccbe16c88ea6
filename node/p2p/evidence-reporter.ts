/**
 * Turns equivocation this node witnesses into `equivocation` transactions (chain/consensus/evidence.ts): two
 * conflicting finality votes of one coordinator (found when votes arrive), or two children of one block sealed by
 * one proposer (found among the blocks this node sees, its own chain's and those peers send). The report is
 * signed with this node's key (it needs no funds) and enters the pool like any transaction, so it is gossiped and
 * sealed; the pool refuses a second report against an offender already convicted or reported.
 */
import type { Address } from '../../protocol/address.js';
import { sealDigest, type Block } from '../../chain/block/block.js';
import { headerEvidence, voteEvidence } from '../../chain/consensus/evidence.js';
import type { Vote } from '../../chain/consensus/finality.js';
import { TxError } from '../../chain/errors.js';
import { signTx } from '../../chain/tx/sign.js';
import type { EquivocationTx } from '../../chain/tx/types.js';
import type { LedgerService } from '../ledger-service.js';

/** How many recent (parent, proposer) slots are remembered to spot a second child. */
const SLOT_MEMORY = 4096;

export class EvidenceReporter {
  private readonly slots = new Map<string, Block>();
  /** Offenders already reported by this node (one report each is enough). */
  private readonly reported = new Set<Address>();

  constructor(
    private readonly ledger: LedgerService,
    private readonly key: Uint8Array,
    readonly reporter: Address,
    private readonly log: (line: string) => void,
  ) {}

  /** Two votes of one coordinator that break a slashing condition. */
  votes(a: Vote, b: Vote): void {
    void this.report(voteEvidence(a, b), `two conflicting finality votes (targets ${a.target.height} and ${b.target.height})`);
  }

  /** A block seen anywhere; a second, different child of the same parent by the same proposer is reported. */
  block(block: Block): void {
    if (block.header.height === 0n) return;
    const slot = `${block.header.parentHash}:${block.header.proposer}`;
    const earlier = this.slots.get(slot);
    if (!earlier) {
      this.slots.set(slot, block);
      if (this.slots.size > SLOT_MEMORY) this.slots.delete(this.slots.keys().next().value!);
      return;
    }
    if (earlier.hash === block.hash) return;
    void this.twoChildren(slot, earlier, block);
  }

  /**
   * Blocks are seen before they are checked, so a keyless sender could put a forged block in a slot first and spoil
   * the evidence of a real second child: both seals are checked here, and a forged one just gives up its slot.
   */
  private async twoChildren(slot: string, earlier: Block, block: Block): Promise<void> {
    const sealers = await this.ledger.verifier.recoverMany(
      [sealDigest(earlier.header), sealDigest(block.header)],
      [earlier.signature, block.signature],
    );
    const [earlierSealed, blockSealed] = [sealers[0] === earlier.header.proposer, sealers[1] === block.header.proposer];
    if (!blockSealed) return;
    if (!earlierSealed) {
      // The forgery gives up its slot, unless another block took it while the seals were checked: compare with that.
      const current = this.slots.get(slot);
      if (!current || current.hash === earlier.hash) this.slots.set(slot, block);
      else if (current.hash !== block.hash) await this.twoChildren(slot, current, block);
      return;
    }
    await this.report(
      { offender: block.header.proposer, kind: 'headers', evidence: [headerEvidence(earlier), headerEvidence(block)] },
      `two blocks at height ${block.header.height} on one parent`,
    );
  }

  private async report(evidence: Pick<EquivocationTx, 'offender' | 'kind' | 'evidence'>, what: string): Promise<void> {
    if (this.reported.has(evidence.offender) || this.ledger.chain.view().convicted(evidence.offender)) return;
    this.reported.add(evidence.offender);
    const tx = signTx({ type: 'equivocation', reporter: this.reporter, ...evidence }, this.key, this.ledger.network);
    try {
      await this.ledger.submit(tx);
      this.log(`coordinator ${evidence.offender} equivocated (${what}): reported in ${tx.hash}`);
    } catch (err) {
      // A forged signature on one of the two messages, or a report already pending: nothing to convict here.
      this.reported.delete(evidence.offender);
      if (!(err instanceof TxError)) throw err;
      this.log(`equivocation evidence against ${evidence.offender} not reported: ${err.message}`);
    }
  }
}
