/**
 * The node's ledger: the chain, the pool of pending transactions, and signature checking for what arrives.
 * A transaction accepted here is pending (the API answers 202); it is acknowledged, and durable, only once a
 * committed block includes it.
 */
import type { Address } from '../chain/address.js';
import type { Chain } from '../chain/chain.js';
import type { SignatureVerifier } from '../chain/crypto/verifier.js';
import { TxError, TxErrorCode } from '../chain/errors.js';
import { signingDigest } from '../chain/tx/eip712.js';
import { TxPool } from '../chain/txpool.js';
import { txSigner, type SignedTx } from '../chain/tx/types.js';

export class LedgerService {
  readonly pool: TxPool;
  private readonly added = new Set<(tx: SignedTx) => void>();

  constructor(readonly chain: Chain, readonly verifier: SignatureVerifier, warn: (line: string) => void = console.warn) {
    this.pool = new TxPool(chain.spec, chain.state);
    chain.onBlock((block) => {
      const dropped = this.pool.rebase(chain.state, block.txs.map((t) => t.hash));
      for (const { tx, error } of dropped) warn(`pool: dropped ${tx.hash}: ${error.message}`);
    });
    chain.onRollback((removed) => {
      const txs = removed.slice().reverse().flatMap((b) => b.txs);
      for (const { tx, error } of this.pool.restore(chain.state, txs)) warn(`pool: dropped ${tx.hash} after a reorg: ${error.message}`);
      // Announce what came back, so peers that never saw it (e.g. across a healed partition) can seal it.
      for (const tx of txs) if (this.pool.get(tx.hash)) for (const listener of this.added) listener(tx);
    });
  }

  /** Checks the signature, then admits the transaction to the pool; throws a TxError saying why not. */
  async submit(tx: SignedTx): Promise<void> {
    const [signer] = await this.verifier.recoverMany([signingDigest(tx.tx, this.chain.spec.chainId)], [tx.tx.signature]);
    const expected = txSigner(tx.tx);
    if (signer !== expected) {
      throw new TxError(TxErrorCode.BAD_SIGNATURE,
        `signature is not by ${expected} for chainId ${this.chain.spec.chainId} (it recovers to ${signer ?? 'no key'})`);
    }
    if (await this.chain.store.txLocation(tx.hash)) throw new TxError(TxErrorCode.DUPLICATE, `transaction ${tx.hash} is already in a block`);
    this.pool.add(tx);
    for (const listener of this.added) listener(tx);
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
