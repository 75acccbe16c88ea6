import { afterEach, describe, expect, it } from 'vitest';
import { auditStore } from './audit/store-audit.js';
import { JsVerifier } from './crypto/verifier.js';
import { BlockErrorCode } from './errors.js';
import { ALC } from './spec.js';
import { openTestChain, tempDir, testSpec, transfer, wallet } from './test/fixtures.js';
import type { Chain } from './chain.js';

const [c1, c2, c3] = [wallet(11), wallet(12), wallet(13)];
const alice = wallet(2);
const bob = wallet(3);
const carol = wallet(4);
const spec = testSpec([c1.address, c2.address, c3.address], [[alice.address, 100n * ALC]]);

describe('rolling back to a heavier fork', () => {
  const dirs: (() => void)[] = [];
  afterEach(() => dirs.splice(0).forEach((rm) => rm()));
  const open = async (): Promise<Chain> => {
    const t = tempDir();
    dirs.push(t.remove);
    return openTestChain(spec, t.dir);
  };
  const after = (chain: Chain, delayMs: number) => chain.head.header.timestamp + BigInt(spec.blockPeriodMs + delayMs);

  it('undoes state, indexes and history of the lighter branch, then follows the heavier one', async () => {
    const heavy = await open();
    const light = await open();
    // Heavy: height 1 by its in-turn signer c2. Light: height 1 by c1 out of turn, spending alice's nonce 0 elsewhere.
    const toBob = transfer(alice, bob.address, 5n * ALC, 0n);
    const toCarol = transfer(alice, carol.address, 7n * ALC, 0n);
    const h1 = (await heavy.buildBlock([toBob], c2.key, c2.address, after(heavy, 0))).block;
    await light.buildBlock([toCarol], c1.key, c1.address, after(light, spec.outOfTurnDelayMs));
    expect(light.account(carol.address).balance).toBe(7n * ALC);
    expect(light.totalWeight).toBe(1n);
    expect(heavy.totalWeight).toBe(2n);

    const removed = await light.rollbackTo(0n);
    expect(removed.map((b) => b.txs[0]!.hash)).toEqual([toCarol.hash]);
    expect(light.height).toBe(0n);
    expect(light.totalWeight).toBe(0n);
    expect(light.account(carol.address).balance).toBe(0n);
    expect(light.account(alice.address)).toEqual({ balance: 100n * ALC, nonce: 0n });
    expect(await light.txByHash(toCarol.hash)).toBeUndefined();
    expect(await light.store.historyPage(carol.address, 10)).toEqual([]);

    await light.importBlock(h1);
    expect(light.head.hash).toBe(heavy.head.hash);
    expect(light.account(bob.address).balance).toBe(5n * ALC);
    const report = await auditStore(light.store, spec, { verifier: new JsVerifier() });
    expect(report.faults).toEqual([]);
    await light.store.close();

    // The rollback survives a reopen: the store says what memory said.
    const reopened = await openTestChain(spec, (light.store as unknown as { db: { location: string } }).db.location);
    expect(reopened.head.hash).toBe(h1.hash);
    expect(reopened.totalWeight).toBe(2n);
    await reopened.store.close();
    await heavy.store.close();
  });

  it('refuses to roll back a final block', async () => {
    const chain = await open();
    await chain.buildBlock([transfer(alice, bob.address, 1n, 0n)], c2.key, c2.address, after(chain, 0));
    await chain.buildBlock([transfer(alice, bob.address, 1n, 1n)], c3.key, c3.address, after(chain, 0));
    // Two of three coordinators have signed on top of block 1: it is final.
    expect(chain.finalizedHeight()).toBe(1n);
    await expect(chain.rollbackTo(0n)).rejects.toMatchObject({ code: BlockErrorCode.BELOW_FINALITY });
    const removed = await chain.rollbackTo(1n);
    expect(removed).toHaveLength(1);
    expect(chain.height).toBe(1n);
    await chain.store.close();
  });
});
