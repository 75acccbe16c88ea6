/**
 * The node's ledger: the chain, the pool of pending transactions, and signature checking for what arrives.
 * A transaction accepted here is pending (the API answers 202); it is acknowledged, and durable, only once a
 * committed block includes it.
 *
 * Signatures are checked against this network's EIP-712 domain (chainId and genesis hash) only. A submitter may
 * say which network it signed for (the transfer body's chainId and genesisHash); when that is another network the
 * transaction is refused as TX_WRONG_CHAIN before anything else, and the message says whether the signature is
 * indeed valid there, so a wallet knows to sign again for this node. The claim never lets anything in.
 */
import type { Address } from '../protocol/address.js';
import type { Chain } from '../chain/chain.js';
import type { SignatureVerifier } from '../chain/crypto/verifier.js';
import { TxError, TxErrorCode } from '../chain/errors.js';
import { networkDomain } from '../chain/genesis-block.js';
import { signingDigest, type NetworkDomain } from '../chain/tx/eip712.js';
import { TxPool } from '../chain/txpool.js';
import { applyTx } from '../chain/state/transition.js';
import { StateOverlay } from '../chain/state/world-state.js';
import { txSigner } from '../chain/tx/kinds.js';
import type { Hash, SignedTx } from '../chain/tx/types.js';

const networkText = (n: NetworkDomain): string => `chainId ${n.chainId}, genesis ${n.genesisHash}`;

export class LedgerService {
  readonly pool: TxPool;
  /** The network every signature here must be bound to. */
  readonly network: NetworkDomain;
  private readonly added = new Set<(tx: SignedTx) => void>();
  /** Equivocation reports refused for evidence that proves nothing, by hash (bounded). */
  private readonly badEvidence = new Map<string, TxError>();

  constructor(
    readonly chain: Chain,
    readonly verifier: SignatureVerifier,
    private readonly warn: (line: string) => void = console.warn,
  ) {
    this.pool = new TxPool(chain.spec, chain.state);
    this.network = networkDomain(chain.spec);
    chain.onBlock((block) => {
      const dropped = this.pool.rebase(
        chain.state,
        block.txs.map((t) => t.hash),
      );
      for (const { tx, error } of dropped) warn(`pool: dropped ${tx.hash}: ${error.message}`);
    });
    chain.onRollback((removed) => {
      const txs = removed
        .slice()
        .reverse()
        .flatMap((b) => b.txs);
      for (const { tx, error } of this.pool.restore(chain.state, txs)) warn(`pool: dropped ${tx.hash} after a reorg: ${error.message}`);
      // Announce what came back, so peers that never saw it (e.g. across a healed partition) can seal it.
      for (const tx of txs) if (this.pool.get(tx.hash)) for (const listener of this.added) listener(tx);
    });
  }

  /**
   * Checks the signature, then admits the transaction to the pool; throws a TxError saying why not. `signedFor` is the
   * network the submitter says it signed for (either part may be left out, meaning this network's).
   */
  async submit(tx: SignedTx, signedFor: Partial<NetworkDomain> = {}): Promise<void> {
    await this.checkSignature(tx, signedFor);
    if (await this.chain.store.txLocation(tx.hash))
      throw new TxError(TxErrorCode.DUPLICATE, `transaction ${tx.hash} is already in a block`);
    // Evidence is checked in pure JS (two signature recoveries); the same bogus report sent again is answered from memory.
    const refused = this.badEvidence.get(tx.hash);
    if (refused) throw refused;
    try {
      this.pool.add(tx);
    } catch (err) {
      // The same transaction sealed while this request waited on the store: say so, not "nonce used".
      if (err instanceof TxError && err.code === TxErrorCode.BAD_NONCE && (await this.chain.store.txLocation(tx.hash))) {
        throw new TxError(TxErrorCode.DUPLICATE, `transaction ${tx.hash} is already in a block`);
      }
      if (err instanceof TxError && err.code === TxErrorCode.BAD_EVIDENCE) {
        if (this.badEvidence.size >= 10_000) this.badEvidence.delete(this.badEvidence.keys().next().value!);
        this.badEvidence.set(tx.hash, err);
      }
      throw err;
    }
    for (const listener of this.added) listener(tx);
  }

  /**
   * What `submit` would answer, without admitting anything: the signature, then the transaction applied on a copy of
   * the pending state (nonce, balance). Throws the TxError `submit` would throw. A later `submit` can still be refused
   * where the pool changed meanwhile (another transaction of the same sender took the nonce).
   */
  async check(tx: SignedTx, signedFor: Partial<NetworkDomain> = {}): Promise<void> {
    await this.checkSignature(tx, signedFor);
    if (this.pool.get(tx.hash)) throw new TxError(TxErrorCode.DUPLICATE, `transaction ${tx.hash} is already pending`);
    applyTx(new StateOverlay(this.pool.pendingState), tx, this.chain.spec);
  }

  /**
   * Where transaction `hash` is: in a block, pending in this node's pool, or unknown here (never seen, or dropped).
   * The pool is read first: a block leaves the pool only after it is committed, so a transaction not in the pool is
   * already in the store if a block took it (reading the store first could miss a block committed during the read
   * and then find the pool already rebased: 'unknown' for a sealed transaction).
   */
  async txState(hash: Hash): Promise<'confirmed' | 'pending' | 'unknown'> {
    if (this.pool.get(hash)) return 'pending';
    return (await this.chain.store.txLocation(hash)) ? 'confirmed' : 'unknown';
  }

  /** Throws a TxError unless `tx` is signed by its sender for this node's network. */
  private async checkSignature(tx: SignedTx, signedFor: Partial<NetworkDomain>): Promise<void> {
    const expected = txSigner(tx.tx);
    const here = this.network;
    const claimed: NetworkDomain = { chainId: signedFor.chainId ?? here.chainId, genesisHash: signedFor.genesisHash ?? here.genesisHash };
    if (claimed.chainId !== here.chainId || claimed.genesisHash !== here.genesisHash) {
      const [there] = await this.verifier.recoverMany([signingDigest(tx.tx, claimed)], [tx.tx.signature]);
      const what = there === expected ? `it is signed by ${expected} for another network` : 'it names another network';
      throw new TxError(
        TxErrorCode.WRONG_CHAIN,
        `${what} (${networkText(claimed)}); this node's network is ${networkText(here)}: sign it again for this network`,
      );
    }
    const [signer] = await this.verifier.recoverMany([signingDigest(tx.tx, here)], [tx.tx.signature]);
    if (signer !== expected) {
      throw new TxError(
        TxErrorCode.BAD_SIGNATURE,
        `signature is not by ${expected} for this network (${networkText(here)}); it recovers to ${signer ?? 'no key'}. ` +
          'A signature made for another network recovers to a different address here: sign it again for this network',
      );
    }
  }

  /** Takes a pending transaction out of the pool (and whatever pending after it no longer applies without it). */
  drop(hash: Hash, why: string): void {
    if (!this.pool.get(hash)) return;
    this.warn(`pool: dropped ${hash}: ${why}`);
    for (const { tx, error } of this.pool.rebase(this.chain.state, [hash])) this.warn(`pool: dropped ${tx.hash}: ${error.message}`);
  }

  onAdded(listener: (tx: SignedTx) => void): () => void {
    this.added.add(listener);
    return () => this.added.delete(listener);
  }

  /** Balance and nonce as of the head block, and the nonce the account's next transfer should carry. */
  account(address: Address): { balance: bigint; nonce: bigint; pendingNonce: bigint } {
    const confirmed = this.chain.account(address);
    return { ...confirmed, pendingNonce: this.pool.pendingState.account(address).nonce };
  }
}
