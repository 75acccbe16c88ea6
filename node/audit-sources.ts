/** Where `ailo audit` reads a chain from: a node's HTTP API (blocks as served for sync) or a data folder. */
import { fromHex, isHex, type Hex } from '../chain/bytes.js';
import type { RawBlock } from '../chain/audit/replay.js';
import { decodeVote } from '../chain/consensus/finality.js';

export class SourceError extends Error {
  override name = 'SourceError';
}

async function getJson(url: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  } catch (err) {
    throw new SourceError(`cannot reach ${url}: ${(err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new SourceError(`${url} answered ${res.status}: ${text.slice(0, 200)}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new SourceError(`${url} did not answer JSON`);
  }
}

export async function fetchGenesisText(nodeUrl: string): Promise<string> {
  const res = await fetch(`${nodeUrl}/api/chain/genesis`).catch((err: Error) => {
    throw new SourceError(`cannot reach ${nodeUrl}: ${err.message}`);
  });
  if (!res.ok) throw new SourceError(`${nodeUrl}/api/chain/genesis answered ${res.status}`);
  return res.text();
}

/** The final block a node reports, read before the replay starts (the votes it serves must prove it). */
export async function claimedFinal(nodeUrl: string): Promise<{ height: bigint; hash: Hex } | undefined> {
  const head = (await getJson(`${nodeUrl}/api/chain/head`)) as { finalizedHeight?: unknown; finalizedHash?: unknown };
  if (typeof head.finalizedHeight !== 'string' || !/^[0-9]+$/.test(head.finalizedHeight) || !isHex(head.finalizedHash, 32)) return undefined;
  return { height: BigInt(head.finalizedHeight), hash: head.finalizedHash.toLowerCase() as Hex };
}

/** Pages through every finality vote a node serves (/api/chain/votes), from target height 0 up. */
export async function* httpVotes(nodeUrl: string, pageSize = 10_000): AsyncGenerator<Uint8Array[]> {
  let from = 0n;
  for (;;) {
    const page = (await getJson(`${nodeUrl}/api/chain/votes?from=${from}&limit=${pageSize}`)) as { votes?: unknown };
    if (!Array.isArray(page.votes) || !page.votes.every((v) => isHex(v))) throw new SourceError(`${nodeUrl} answered /api/chain/votes in an unknown shape`);
    const votes = (page.votes as Hex[]).map((v) => fromHex(v));
    yield votes;
    if (votes.length < pageSize) return;
    // The next page starts at the last target height seen (votes repeated across the seam count once).
    const last = votes.at(-1)!;
    const next = decodeVote(last).target.height;
    if (next === from) throw new SourceError(`${nodeUrl} holds more than ${pageSize} votes for one height`);
    from = next;
  }
}

/** Pages through /api/chain/blocks from genesis to the head the node reports when the audit starts. */
export async function* httpBlocks(nodeUrl: string, pageSize = 500): AsyncGenerator<RawBlock[]> {
  let from = 0n;
  let head: bigint | undefined;
  while (head === undefined || from <= head) {
    const page = (await getJson(`${nodeUrl}/api/chain/blocks?from=${from}&limit=${pageSize}`)) as { head?: unknown; blocks?: unknown };
    if (typeof page.head !== 'string' || !/^[0-9]+$/.test(page.head) || !Array.isArray(page.blocks)) {
      throw new SourceError(`${nodeUrl} answered /api/chain/blocks in an unknown shape`);
    }
    head ??= BigInt(page.head);
    if (page.blocks.length === 0) break;
    const batch: RawBlock[] = page.blocks.map((b: { height?: unknown; hash?: unknown; raw?: unknown }) => {
      if (typeof b.height !== 'string' || !/^[0-9]+$/.test(b.height) || !isHex(b.hash, 32) || typeof b.raw !== 'string' || !isHex(b.raw)) {
        throw new SourceError(`${nodeUrl} served a block entry in an unknown shape`);
      }
      return { height: BigInt(b.height), hash: b.hash as Hex, bytes: fromHex(b.raw) };
    });
    yield batch.filter((b) => b.height <= head!);
    from = batch.at(-1)!.height + 1n;
  }
}
