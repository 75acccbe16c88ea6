import { afterEach, describe, expect, it } from 'vitest';
import { BlockError, BlockErrorCode, TxErrorCode } from './errors.js';
import { ALC } from './spec.js';
import { sealBlock, txRootOf } from './block/block.js';
import { verifyMerkleProof } from './merkle.js';
import { fromHex } from '../protocol/bytes.js';
import { nextTimestamp, openTestChain, tempDir, testSpec, transfer, wallet } from './test/fixtures.js';

const coordinator = wallet(1);
const alice = wallet(2);
const bob = wallet(3);
const spec = testSpec([coordinator.address], [[alice.address, 100n * ALC]]);

describe('Chain', () => {
  const dirs: (() => void)[] = [];
  afterEach(() => dirs.splice(0).forEach((rm) => rm()));
  const fresh = () => {
    const t = tempDir();
    dirs.push(t.remove);
    return t.dir;
  };

  it('seals a block of transfers, moves balances and nonces, and survives a reopen', async () => {
    const dir = fresh();
    const chain = await openTestChain(spec, dir);
    const txs = [transfer(alice, bob.address, 5n * ALC, 0n, spec), transfer(alice, bob.address, 1n, 1n, spec)];
    const { block, rejected } = await chain.buildBlock(txs, coordinator.key, coordinator.address, nextTimestamp(chain));
    expect(rejected).toEqual([]);
    expect(block.header.height).toBe(1n);
    expect(chain.account(alice.address)).toEqual({ balance: 95n * ALC - 1n, nonce: 2n });
    expect(chain.account(bob.address)).toEqual({ balance: 5n * ALC + 1n, nonce: 0n });
    const located = await chain.txByHash(txs[1]!.hash);
    expect(located?.height).toBe(1n);
    expect(verifyMerkleProof(fromHex(txs[1]!.hash, 32), located!.proof, fromHex(block.header.txRoot, 32))).toBe(true);
    await chain.store.close();

    const reopened = await openTestChain(spec, dir);
    expect(reopened.height).toBe(1n);
    expect(reopened.head.hash).toBe(block.hash);
    expect(reopened.account(bob.address).balance).toBe(5n * ALC + 1n);
    await reopened.store.close();
  });

  it('leaves out transactions that fail against the state, with the reason', async () => {
    const chain = await openTestChain(spec, fresh());
    const gap = transfer(alice, bob.address, 1n, 5n, spec);
    const overdraft = transfer(bob, alice.address, 1n, 0n, spec);
    const { block, rejected } = await chain.buildBlock([gap, overdraft], coordinator.key, coordinator.address, nextTimestamp(chain));
    expect(block.txs).toHaveLength(0);
    expect(rejected.map((r) => r.error.code)).toEqual([TxErrorCode.NONCE_GAP, TxErrorCode.INSUFFICIENT_BALANCE]);
    await chain.store.close();
  });

  it('imports a block sealed elsewhere and refuses tampered ones', async () => {
    const a = await openTestChain(spec, fresh());
    const b = await openTestChain(spec, fresh());
    const { block } = await a.buildBlock(
      [transfer(alice, bob.address, 7n, 0n, spec)],
      coordinator.key,
      coordinator.address,
      nextTimestamp(a),
    );

    const forgedState = sealBlock({ ...block.header, stateRoot: block.header.txRoot }, block.txs, coordinator.key);
    await expect(b.importBlock(forgedState)).rejects.toMatchObject({ code: BlockErrorCode.BAD_STATE_ROOT });
    const outsider = wallet(9);
    const forgedSeal = sealBlock({ ...block.header, proposer: outsider.address }, block.txs, outsider.key);
    await expect(b.importBlock(forgedSeal)).rejects.toMatchObject({ code: BlockErrorCode.NOT_AUTHORIZED });
    const otherTx = transfer(alice, bob.address, 8n, 0n, spec);
    const swapped = sealBlock({ ...block.header, txRoot: txRootOf([otherTx]) }, [otherTx], coordinator.key);
    await expect(b.importBlock(swapped)).rejects.toBeInstanceOf(BlockError);
    expect(b.height).toBe(0n);

    await b.importBlock(block);
    expect(b.head.hash).toBe(a.head.hash);
    expect(b.account(bob.address).balance).toBe(7n);
    await a.store.close();
    await b.store.close();
  });
});
