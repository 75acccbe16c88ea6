/**
 * Audit of a node's data folder: replays its blocks (through the height index) from genesis, then checks that
 * every index the node serves from agrees with the replay: head pointer, transaction locations, per-address
 * history, and the stored state entry by entry.
 */
import { bytesToUint, toHex, type Hex } from '../../protocol/bytes.js';
import { auditFinality } from './finality-audit.js';
import type { Block } from '../block/block.js';
import type { ChainSpec } from '../spec.js';
import type { ChainStore } from '../store/chain-store.js';
import { historyOf } from '../store/history.js';
import { replayChain, type AuditReport, type RawBlock, type ReplayOptions } from './replay.js';

const BATCH = 256;
/** Index faults listed one by one before the rest are only counted. */
const MAX_LISTED = 20;

async function* storedBlocks(store: ChainStore): AsyncGenerator<RawBlock[]> {
  let batch: RawBlock[] = [];
  for await (const { height, hash } of store.heightIndex()) {
    const bytes = await store.blockBytes(hash);
    batch.push({ height, hash, bytes: bytes ?? new Uint8Array(0) });
    if (batch.length === BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

async function* storedVotes(store: ChainStore): AsyncGenerator<Uint8Array[]> {
  let page: Uint8Array[] = [];
  for await (const { bytes } of store.voteEntries()) {
    page.push(bytes);
    if (page.length === 8192) {
      yield page;
      page = [];
    }
  }
  yield page;
}

export async function auditStore(store: ChainStore, spec: ChainSpec, o: ReplayOptions): Promise<AuditReport> {
  const txIndex = new Map<Hex, string>();
  const history = new Set<string>();
  const hashes: Hex[] = [];
  const visit = (block: Block): void => {
    hashes[Number(block.header.height)] = block.hash;
    block.txs.forEach((t, i) => txIndex.set(t.hash, `${block.header.height}:${i}`));
    for (const e of historyOf(block)) history.add(`${e.address}:${e.height}:${e.index}:${e.txHash}`);
    o.visit?.(block);
  };
  const { report, state } = await replayChain(spec, storedBlocks(store), { ...o, visit });
  if (report.faults.length > 0) return report; // indexes cannot be judged against a replay that stopped early
  hashes[0] = report.genesisHash;
  const finalMeta = await store.metaBytes('finalized');
  const claimed = finalMeta ? { height: bytesToUint(finalMeta.subarray(0, 8)), hash: toHex(finalMeta.subarray(8, 40)) } : undefined;
  report.finality = await auditFinality(spec, hashes, storedVotes(store), o.verifier, claimed);
  report.faults.push(...report.finality.faults);

  let listed = 0;
  const indexFault = (what: string, height?: bigint): void => {
    if (listed++ < MAX_LISTED) report.faults.push({ height, what });
  };
  const head = await store.headHash();
  if (head !== report.headHash) indexFault(`head pointer ${head ?? 'missing'} is not the last block ${report.headHash}`);

  for await (const e of store.txIndexEntries()) {
    const expected = txIndex.get(e.hash);
    if (expected === undefined) indexFault(`transaction index lists ${e.hash}, which no block holds`, e.height);
    else if (expected !== `${e.height}:${e.index}`)
      indexFault(`transaction index puts ${e.hash} at ${e.height}:${e.index}, the block holds it at ${expected}`, e.height);
    txIndex.delete(e.hash);
  }
  for (const [hash, at] of txIndex)
    indexFault(`transaction ${hash} (block:index ${at}) is missing from the transaction index`, BigInt(at.split(':')[0]!));

  for await (const e of store.historyEntries()) {
    const key = `${e.address}:${e.height}:${e.index}:${e.txHash}`;
    if (!history.delete(key))
      indexFault(`history of ${e.address} lists ${e.txHash} at ${e.height}:${e.index}, which no block puts there`, e.height);
  }
  for (const key of history) indexFault(`history entry ${key} is missing`);

  const replayed = new Map(state.entries());
  for await (const { key, value } of store.stateEntries()) {
    const k = toHex(key);
    const expected = replayed.get(k);
    if (!expected) indexFault(`stored state has an entry ${k} that the replay does not`);
    else if (toHex(expected) !== toHex(value!)) indexFault(`stored state entry ${k} differs from the replay`);
    replayed.delete(k);
  }
  for (const k of replayed.keys()) indexFault(`stored state is missing entry ${k}`);
  if (listed > MAX_LISTED) report.faults.push({ what: `${listed - MAX_LISTED} more index faults` });
  return report;
}
