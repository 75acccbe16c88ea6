/** Where `ailo audit` reads a chain from: a node's HTTP API (blocks as served for sync) or a data folder. */
import { fromHex, isHex, type Hex } from '../chain/bytes.js';
import type { RawBlock } from '../chain/audit/replay.js';

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
