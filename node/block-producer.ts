/**
 * A coordinator's block production: when transactions are pending and the Clique rules let this coordinator
 * seal the next block (its turn, or after the out-of-turn delay; not within the signer limit), it seals one.
 * With nothing pending it seals only the one empty block that finality of the latest transactions needs
 * (finality.ts `needsFinalizingBlock`). It never seals a second child of one block (clique.ts SealedSlots).
 */
import type { Address } from '../protocol/address.js';
import { earliestTimestamp, recentWindow } from '../chain/consensus/clique.js';
import { MAX_TXS_PER_BLOCK } from '../chain/block/block.js';
import type { SignedTx } from '../chain/tx/types.js';
import { applyTx } from '../chain/state/transition.js';
import { StateOverlay } from '../chain/state/world-state.js';
import type { LedgerService } from './ledger-service.js';

export class BlockProducer {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private busy = false;
  private unsubscribe: (() => void)[] = [];

  constructor(
    private readonly ledger: LedgerService,
    private readonly key: Uint8Array,
    readonly address: Address,
    private readonly log: { warn: (line: string) => void; error: (line: string) => void } = { warn: console.warn, error: console.error },
    private readonly maxTxs = 5_000,
    /** While this says so (e.g. during a sync), no block is sealed here. */
    private readonly paused: () => boolean = () => false,
    /** This node's clock in ms (tests run a coordinator whose clock is off). */
    private readonly now: () => number = Date.now,
    /**
     * Whether a pending transaction may be sealed yet (a `model_version` only once it has been recomputed,
     * ModelReplica.admissible); a block leaves out those that may not and those that depend on them.
     */
    private readonly admissible: (tx: SignedTx) => boolean = () => true,
  ) {
    if (maxTxs > MAX_TXS_PER_BLOCK) throw new Error(`maxTxs is above the block limit ${MAX_TXS_PER_BLOCK}`);
  }

  start(): void {
    this.running = true;
    const schedule = (): void => this.schedule();
    const { chain } = this.ledger;
    this.unsubscribe = [this.ledger.onAdded(schedule), chain.onBlock(schedule), chain.onFinality(schedule), chain.onRollback(schedule)];
    this.schedule();
  }

  /** Stops producing and waits for a block being sealed to finish committing. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.unsubscribe.forEach((u) => u());
    while (this.busy) await new Promise((r) => setTimeout(r, 5));
  }

  /** Looks for work again (e.g. a pending transaction has become admissible). */
  nudge(): void {
    this.schedule();
  }

  /**
   * The next block's transactions: the oldest pending, leaving out any that may not be sealed yet and those that do
   * not apply without them (a contribution on a version still being checked), so one held back blocks nothing else.
   */
  private candidates(): SignedTx[] {
    const pending = this.ledger.pool.take(this.maxTxs);
    if (pending.every((tx) => this.admissible(tx))) return pending;
    const { chain } = this.ledger;
    const overlay = new StateOverlay(chain.state);
    return pending.filter((tx) => {
      if (!this.admissible(tx)) return false;
      try {
        applyTx(overlay, tx, chain.spec);
        return true;
      } catch {
        return false;
      }
    });
  }

  /** Whether there is anything to seal: pending transactions, or the empty block finality is waiting for. */
  private hasWork(): boolean {
    const { chain } = this.ledger;
    if (chain.sealedOnHead) return false; // this node's child of the head was replaced: another coordinator seals
    if (this.candidates().length > 0) return true;
    return chain.needsFinalizingBlock();
  }

  private schedule(): void {
    if (!this.running || this.busy || !this.hasWork()) return;
    const { chain } = this.ledger;
    if (this.paused()) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.schedule(), 100);
      return;
    }
    if (chain.recent.slice(0, recentWindow(chain.spec)).includes(this.address)) return; // wait for another coordinator's block
    const due = earliestTimestamp(chain.spec, chain.head.header, this.address);
    const wait = Number(due - BigInt(this.now()));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.produce(), Math.max(0, wait));
  }

  private async produce(): Promise<void> {
    if (!this.running || this.busy || !this.hasWork()) return;
    if (this.paused()) return this.schedule();
    this.busy = true;
    try {
      const { chain } = this.ledger;
      const due = earliestTimestamp(chain.spec, chain.head.header, this.address);
      const now = BigInt(this.now());
      const { block, rejected } = await chain.buildBlock(this.candidates(), this.key, this.address, now > due ? now : due);
      for (const { tx, error } of rejected) this.log.warn(`block ${block.header.height}: left out ${tx.hash}: ${error.message}`);
    } catch (err) {
      this.log.error(`block production failed: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
    this.schedule();
  }
}
