/**
 * The checks a block must pass to follow its parent: chain id, height and parent link, the proposer's seal and
 * the Clique rules, the time, the transaction root, each transaction's signer and state transition, and the
 * resulting state root. Live import (Chain) and the audit run exactly this.
 */
import type { Address } from '../../protocol/address.js';
import { toHex } from '../../protocol/bytes.js';
import { checkClique } from '../consensus/clique.js';
import type { SignatureVerifier } from '../crypto/verifier.js';
import { BlockError, BlockErrorCode } from '../errors.js';
import type { ChainSpec } from '../spec.js';
import { applyTx } from '../state/transition.js';
import type { StateChange } from '../state/state-tree.js';
import { StateOverlay, type WorldState } from '../state/world-state.js';
import { networkDomain } from '../genesis-block.js';
import { signingDigest } from '../tx/eip712.js';
import { txSigner } from '../tx/kinds.js';
import { sealDigest, txRootOf, type Block } from './block.js';

export interface ParentContext {
  spec: ChainSpec;
  state: WorldState;
  parent: Block;
  /** Proposers of the parent and its ancestors, newest first. */
  recentProposers: Address[];
  /** When set, blocks stamped later than this (ms) are refused. */
  latestAllowedTimestamp?: bigint;
}

/** Recovers, in one batch, each block's seal signer followed by each of its transactions' signers. */
export async function recoverBlockSigners(verifier: SignatureVerifier, spec: ChainSpec, blocks: Block[]): Promise<(Address | null)[][]> {
  const digests: Uint8Array[] = [];
  const sigs: Uint8Array[] = [];
  const network = networkDomain(spec);
  for (const b of blocks) {
    digests.push(sealDigest(b.header));
    sigs.push(b.signature);
    for (const t of b.txs) {
      digests.push(signingDigest(t.tx, network));
      sigs.push(t.tx.signature);
    }
  }
  const flat = await verifier.recoverMany(digests, sigs);
  const out: (Address | null)[][] = [];
  let k = 0;
  for (const b of blocks) {
    out.push(flat.slice(k, k + 1 + b.txs.length));
    k += 1 + b.txs.length;
  }
  return out;
}

/** Returns the state changes of a valid block, or throws a BlockError naming the block and the fault. */
export function verifyBlock(ctx: ParentContext, block: Block, signers: (Address | null)[]): StateChange[] {
  const { header } = block;
  const { spec, parent } = ctx;
  const fail = (code: BlockErrorCode, message: string): never => {
    throw new BlockError(code, `block ${header.height}: ${message}`, header.height);
  };
  if (header.chainId !== spec.chainId) fail(BlockErrorCode.WRONG_CHAIN, `chainId ${header.chainId}, expected ${spec.chainId}`);
  if (header.height !== parent.header.height + 1n) fail(BlockErrorCode.WRONG_HEIGHT, `height does not follow ${parent.header.height}`);
  if (header.parentHash !== parent.hash) fail(BlockErrorCode.PARENT_MISMATCH, `parent ${header.parentHash} is not ${parent.hash}`);
  if (signers[0] !== header.proposer) fail(BlockErrorCode.BAD_SIGNATURE, `seal is not signed by the proposer ${header.proposer}`);
  const violation = checkClique(spec, parent.header, header, ctx.recentProposers);
  if (violation) fail(BlockErrorCode[violation.code], violation.message);
  if (new StateOverlay(ctx.state).convicted(header.proposer))
    fail(BlockErrorCode.NOT_AUTHORIZED, `${header.proposer} was convicted of equivocation and may no longer seal blocks`);
  if (ctx.latestAllowedTimestamp !== undefined && header.timestamp > ctx.latestAllowedTimestamp) {
    fail(BlockErrorCode.FUTURE_TIMESTAMP, `timestamp ${header.timestamp} is too far in the future`);
  }
  if (txRootOf(block.txs) !== header.txRoot) fail(BlockErrorCode.BAD_TX_ROOT, 'transaction root does not match its transactions');
  const overlay = new StateOverlay(ctx.state);
  block.txs.forEach((t, i) => {
    if (signers[i + 1] !== txSigner(t.tx))
      fail(BlockErrorCode.INVALID_TX, `transaction ${i} (${t.hash}): signature is not by ${txSigner(t.tx)}`);
    try {
      applyTx(overlay, t, spec);
    } catch (err) {
      fail(BlockErrorCode.INVALID_TX, `transaction ${i} (${t.hash}): ${(err as Error).message}`);
    }
  });
  const changes = [...overlay.changes.values()];
  if (toHex(ctx.state.rootWith(changes)) !== header.stateRoot)
    fail(BlockErrorCode.BAD_STATE_ROOT, 'state root does not match the state after its transactions');
  return changes;
}
