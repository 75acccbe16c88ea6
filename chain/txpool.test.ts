import { afterEach, describe, expect, it } from 'vitest';
import { TxError, TxErrorCode } from './errors.js';
import { genesisBlock } from './genesis-block.js';
import { ALC } from './spec.js';
import { WorldState } from './state/world-state.js';
import { nextTimestamp, openTestChain, tempDir, testSpec, transfer, wallet } from './test/fixtures.js';
import { TxPool } from './txpool.js';
import type { SignedTx } from './tx/types.js';

const coordinator = wallet(1);
const alice = wallet(2);
const bob = wallet(3);
const carol = wallet(4);
const spec = testSpec([coordinator.address], [[alice.address, 10n * ALC]]);

function genesisWorld(): WorldState {
  const world = new WorldState();
  world.apply(genesisBlock(spec).stateChanges);
  return world;
}

function codeOf(fn: () => void): TxErrorCode | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof TxError) return err.code;
    throw err;
  }
  return undefined;
}

describe('TxPool', () => {
  it('accepts sequential nonces and refuses gaps and replays', () => {
    const pool = new TxPool(spec, genesisWorld());
    for (let n = 0n; n < 5n; n++) pool.add(transfer(alice, bob.address, 1n, n, spec));
    expect(pool.size).toBe(5);
    expect(pool.pendingState.account(alice.address).nonce).toBe(5n);
    expect(codeOf(() => pool.add(transfer(alice, bob.address, 1n, 7n, spec)))).toBe(TxErrorCode.NONCE_GAP);
    expect(codeOf(() => pool.add(transfer(alice, bob.address, 2n, 3n, spec)))).toBe(TxErrorCode.BAD_NONCE);
    expect(codeOf(() => pool.add(transfer(alice, bob.address, 1n, 2n, spec)))).toBe(TxErrorCode.DUPLICATE);
    expect(pool.size).toBe(5);
    pool.add(transfer(alice, bob.address, 1n, 5n, spec));
    expect(pool.take(100).map((t) => (t.tx as { nonce: bigint }).nonce)).toEqual([0n, 1n, 2n, 3n, 4n, 5n]);
    expect(pool.take(2)).toHaveLength(2);
  });

  it('counts pending spends against the balance', () => {
    const pool = new TxPool(spec, genesisWorld());
    pool.add(transfer(alice, bob.address, 6n * ALC, 0n, spec));
    expect(codeOf(() => pool.add(transfer(alice, bob.address, 5n * ALC, 1n, spec)))).toBe(TxErrorCode.INSUFFICIENT_BALANCE);
    pool.add(transfer(alice, bob.address, 4n * ALC, 1n, spec));
    expect(codeOf(() => pool.add(transfer(alice, bob.address, 1n, 2n, spec)))).toBe(TxErrorCode.INSUFFICIENT_BALANCE);
    // bob may spend what a pending transfer gives him, and no more
    pool.add(transfer(bob, carol.address, 10n * ALC, 0n, spec));
    expect(codeOf(() => pool.add(transfer(bob, carol.address, 1n, 1n, spec)))).toBe(TxErrorCode.INSUFFICIENT_BALANCE);
    expect(pool.pendingState.account(carol.address).balance).toBe(10n * ALC);
    expect(pool.size).toBe(3);
  });

  it('refuses new transactions at its limit, after the duplicate check', () => {
    const pool = new TxPool(spec, genesisWorld(), 3);
    const txs = [0n, 1n, 2n].map((n) => transfer(alice, bob.address, 1n, n, spec));
    txs.forEach((t) => pool.add(t));
    expect(codeOf(() => pool.add(transfer(alice, bob.address, 1n, 3n, spec)))).toBe(TxErrorCode.POOL_FULL);
    expect(codeOf(() => pool.add(txs[0]!))).toBe(TxErrorCode.DUPLICATE);
    expect(pool.size).toBe(3);
    expect(pool.get(txs[1]!.hash)).toBe(txs[1]);
  });

  describe('rebase after a block', () => {
    const dirs: (() => void)[] = [];
    afterEach(() => dirs.splice(0).forEach((rm) => rm()));

    it('drops what the block included and what no longer applies, keeping the rest in order', async () => {
      const t = tempDir();
      dirs.push(t.remove);
      const chain = await openTestChain(spec, t.dir);
      const pool = new TxPool(spec, chain.state);
      const a0 = transfer(alice, bob.address, 1n * ALC, 0n, spec);
      const a1 = transfer(alice, bob.address, 2n * ALC, 1n, spec);
      const a2 = transfer(alice, carol.address, 3n * ALC, 2n, spec);
      const b0 = transfer(bob, carol.address, 1n * ALC, 0n, spec);
      [a0, a1, a2, b0].forEach((x) => pool.add(x));

      // the block includes a0 and a competing alice nonce-1 transfer that spends nearly everything
      const rival = transfer(alice, carol.address, 8n * ALC, 1n, spec);
      const { block } = await chain.buildBlock([a0, rival], coordinator.key, coordinator.address, nextTimestamp(chain));
      expect(block.txs.map((x) => x.hash)).toEqual([a0.hash, rival.hash]);

      const dropped = pool.rebase(
        chain.state,
        block.txs.map((x) => x.hash),
      );
      const reasons = new Map(dropped.map((d: { tx: SignedTx; error: TxError }) => [d.tx.hash, d.error.code]));
      expect(reasons).toEqual(
        new Map([
          [a1.hash, TxErrorCode.BAD_NONCE],
          [a2.hash, TxErrorCode.INSUFFICIENT_BALANCE],
        ]),
      );
      expect(pool.take(10).map((x) => x.hash)).toEqual([b0.hash]);
      expect(pool.get(a0.hash)).toBeUndefined();
      expect(pool.get(a1.hash)).toBeUndefined();
      expect(pool.pendingState.account(alice.address)).toEqual({ balance: 1n * ALC, nonce: 2n });
      // the freed nonce 2 is open again (a2 was dropped)
      pool.add(transfer(alice, carol.address, 1n * ALC, 2n, spec));
      expect(pool.size).toBe(2);
      await chain.store.close();
    });
  });
});
