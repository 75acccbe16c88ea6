/**
 * The audit's replay: rebuilds the ledger from genesis out of raw blocks from any source (a data folder, a node's
 * API), checking each block's claimed hash, its link, seal, Clique rules, every transaction signature and state
 * transition and the state root, exactly as a live node does. Stops at the first bad block and names it.
 */
import type { Address } from '../../protocol/address.js';
import { bytesEqual, type Hex } from '../../protocol/bytes.js';
import { decodeBlock, encodeBlock, type Block } from '../block/block.js';
import { recoverBlockSigners, verifyBlock } from '../block/verify.js';
import { recentWindow } from '../consensus/clique.js';
import type { SignatureVerifier } from '../crypto/verifier.js';
import { genesisBlock } from '../genesis-block.js';
import type { ChainSpec } from '../spec.js';
import { StateOverlay, WorldState } from '../state/world-state.js';
import { txParties } from '../tx/kinds.js';
import { assertNever, type TxType } from '../tx/types.js';
import type { FinalityReport } from './finality-audit.js';

export interface RawBlock {
  height: bigint;
  /** The hash the source claims for this height (its height index, or what a node's API said). */
  hash: Hex;
  bytes: Uint8Array;
}

export interface AuditFault {
  height?: bigint;
  what: string;
}

export interface AuditReport {
  chainId: bigint;
  genesisHash: Hex;
  headHeight: bigint;
  headHash: Hex;
  blocks: number;
  txs: Record<TxType, number>;
  proposers: Map<Address, number>;
  accounts: number;
  totalSupply: bigint;
  contributions: { total: number; aggregated: number; awaitingVersion: number; rewards: bigint };
  modelVersions: bigint;
  /** Finality as the auditor computes it from the votes the source holds (absent when the source gives none). */
  finality?: FinalityReport;
  /** Coordinators convicted of equivocation by `equivocation` transactions, in chain order. */
  convictions: { offender: Address; reporter: Address; kind: 'votes' | 'headers'; height: bigint; txHash: Hex }[];
  faults: AuditFault[];
  elapsedMs: number;
}

export interface ReplayOptions {
  verifier: SignatureVerifier;
  /** Called with every block that passed, in order (the store audit checks its indexes from these). */
  visit?: (block: Block) => void;
  onProgress?: (height: bigint) => void;
}

export interface ReplayResult {
  report: AuditReport;
  state: WorldState;
}

export async function replayChain(spec: ChainSpec, batches: AsyncIterable<RawBlock[]>, o: ReplayOptions): Promise<ReplayResult> {
  const started = performance.now();
  const genesis = genesisBlock(spec);
  const state = new WorldState();
  state.apply(genesis.stateChanges);
  const report: AuditReport = {
    chainId: spec.chainId,
    genesisHash: genesis.block.hash,
    headHeight: 0n,
    headHash: genesis.block.hash,
    blocks: 0,
    txs: { transfer: 0, contribution: 0, model_version: 0, inference_reward: 0, equivocation: 0 },
    proposers: new Map(),
    accounts: 0,
    convictions: [],
    totalSupply: 0n,
    contributions: { total: 0, aggregated: 0, awaitingVersion: 0, rewards: 0n },
    modelVersions: 0n,
    faults: [],
    elapsedMs: 0,
  };
  const fault = (what: string, height?: bigint): void => {
    report.faults.push({ height, what });
  };
  let parent: Block | undefined;
  const recent: Address[] = [];
  let expectHeight = 0n;
  const addresses = new Set<Address>(spec.alloc.keys());

  replay: for await (const batch of batches) {
    const decoded: Block[] = [];
    for (const raw of batch) {
      if (raw.height !== expectHeight) {
        fault(`the source skipped from height ${expectHeight - 1n} to ${raw.height}`, expectHeight);
        break replay;
      }
      expectHeight++;
      let block: Block;
      try {
        block = decodeBlock(raw.bytes);
      } catch (err) {
        fault(`stored bytes do not decode: ${(err as Error).message}`, raw.height);
        break replay;
      }
      if (block.hash !== raw.hash) {
        fault(`hash ${block.hash} of the stored block differs from the indexed hash ${raw.hash}`, raw.height);
        break replay;
      }
      if (block.header.height !== raw.height) {
        fault(`block at index height ${raw.height} says it is height ${block.header.height}`, raw.height);
        break replay;
      }
      decoded.push(block);
    }
    let start = 0;
    if (!parent && decoded.length > 0) {
      const g = decoded[0]!;
      if (g.hash !== genesis.block.hash || !bytesEqual(encodeBlock(g), encodeBlock(genesis.block))) {
        fault(`genesis block ${g.hash} is not the genesis of this spec (${genesis.block.hash})`, 0n);
        break;
      }
      parent = g;
      report.blocks++;
      o.visit?.(g);
      start = 1;
    }
    const blocks = decoded.slice(start);
    if (blocks.length === 0) continue;
    const signers = await recoverBlockSigners(o.verifier, spec, blocks);
    for (let i = 0; i < blocks.length; i++) {
      const block = blocks[i]!;
      try {
        const changes = verifyBlock({ spec, state, parent: parent!, recentProposers: recent }, block, signers[i]!);
        state.apply(changes);
      } catch (err) {
        fault((err as Error).message.replace(/^block \d+: /, ''), block.header.height);
        break replay;
      }
      parent = block;
      recent.unshift(block.header.proposer);
      recent.length = Math.min(recent.length, recentWindow(spec) + 1);
      report.blocks++;
      report.proposers.set(block.header.proposer, (report.proposers.get(block.header.proposer) ?? 0) + 1);
      for (const t of block.txs) {
        report.txs[t.tx.type]++;
        const tx = t.tx;
        for (const address of txParties(tx)) addresses.add(address);
        switch (tx.type) {
          case 'contribution':
            report.contributions.total++;
            report.contributions.rewards += tx.reward;
            break;
          case 'model_version':
            report.contributions.aggregated += tx.contributions.length;
            break;
          case 'equivocation':
            report.convictions.push({
              offender: tx.offender,
              reporter: tx.reporter,
              kind: tx.kind,
              height: block.header.height,
              txHash: t.hash,
            });
            break;
          case 'transfer':
          case 'inference_reward':
            break;
          default:
            assertNever(tx, 'transaction type');
        }
      }
      o.visit?.(block);
    }
    o.onProgress?.(parent!.header.height);
  }
  if (!parent && report.faults.length === 0) fault('the source holds no blocks, not even genesis', 0n);
  if (parent) {
    report.headHeight = parent.header.height;
    report.headHash = parent.hash;
  }
  summarizeState(state, addresses, report);
  report.elapsedMs = performance.now() - started;
  return { report, state };
}

/** Counts accounts and checks that their balances add up to the recorded supply. */
function summarizeState(state: WorldState, addresses: Set<Address>, report: AuditReport): void {
  const view = new StateOverlay(state);
  let balances = 0n;
  for (const address of addresses) {
    const { balance, nonce } = view.account(address);
    if (balance > 0n || nonce > 0n) report.accounts++;
    balances += balance;
  }
  const meta = view.meta();
  report.totalSupply = meta.totalSupply;
  report.modelVersions = meta.latestModelVersion;
  report.contributions.awaitingVersion = report.contributions.total - report.contributions.aggregated;
  if (balances !== meta.totalSupply)
    report.faults.push({ what: `balances add up to ${balances}, but the recorded supply is ${meta.totalSupply}` });
}
