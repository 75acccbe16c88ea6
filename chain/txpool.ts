/**
 * Pending transactions waiting for a block. The pool keeps them in arrival order and applies each one, as it
 * arrives, on top of the head state plus everything already pending: a transaction is accepted only if it would
 * be valid in that sequence, so nonce gaps, replays and overdrafts are refused at the door with the same rules
 * (and the same error codes) the block will apply. Signatures are checked by the caller before `add`.
 */
import { TxError, TxErrorCode } from './errors.js';
import type { ChainSpec } from './spec.js';
import { applyTx } from './state/transition.js';
import { StateOverlay, type StateReader } from './state/world-state.js';
import type { Hash, SignedTx } from './tx/types.js';

export const DEFAULT_POOL_LIMIT = 50_000;

export class TxPool {
  private pending: SignedTx[] = [];
  private readonly byHash = new Map<Hash, SignedTx>();
  private view: StateOverlay;

  constructor(
    private readonly spec: ChainSpec,
    base: StateReader,
    private readonly limit = DEFAULT_POOL_LIMIT,
  ) {
    this.view = new StateOverlay(base);
  }

  get size(): number {
    return this.pending.length;
  }

  get(hash: Hash): SignedTx | undefined {
    return this.byHash.get(hash);
  }

  /** The state as it will be once every pending transaction is in a block (for nonces a wallet should use next). */
  get pendingState(): StateOverlay {
    return this.view;
  }

  /** Accepts a signature-checked transaction or throws the TxError that explains why not. */
  add(tx: SignedTx): void {
    if (this.byHash.has(tx.hash)) throw new TxError(TxErrorCode.DUPLICATE, `transaction ${tx.hash} is already pending`);
    if (this.pending.length >= this.limit) {
      throw new TxError(TxErrorCode.POOL_FULL, `the pool holds ${this.limit} pending transactions; retry after the next block`);
    }
    applyTx(this.view, tx, this.spec);
    this.pending.push(tx);
    this.byHash.set(tx.hash, tx);
  }

  /** Up to `max` pending transactions, oldest first: the candidates for the next block. */
  take(max: number): SignedTx[] {
    return this.pending.slice(0, max);
  }

  /**
   * Puts the transactions of rolled-back blocks (oldest first) back in front of what is pending, re-checking all
   * of them on the new head state; returns those that no longer apply.
   */
  restore(base: StateReader, txs: SignedTx[]): { tx: SignedTx; error: TxError }[] {
    const known = new Set(this.pending.map((t) => t.hash));
    this.pending = [...txs.filter((t) => !known.has(t.hash)), ...this.pending];
    for (const t of this.pending) this.byHash.set(t.hash, t);
    return this.rebase(base, []);
  }

  /**
   * Re-bases the pool on a new head state: drops what the block included and whatever no longer applies
   * (returned with the reason, e.g. a competing transaction spent the balance first).
   */
  rebase(base: StateReader, included: Iterable<Hash>): { tx: SignedTx; error: TxError }[] {
    for (const hash of included) this.byHash.delete(hash);
    const survivors = this.pending.filter((t) => this.byHash.has(t.hash));
    this.view = new StateOverlay(base);
    this.pending = [];
    this.byHash.clear();
    const dropped: { tx: SignedTx; error: TxError }[] = [];
    for (const tx of survivors) {
      try {
        this.add(tx);
      } catch (error) {
        if (!(error instanceof TxError)) throw error;
        dropped.push({ tx, error });
      }
    }
    return dropped;
  }
}
