/** Where `ailo audit` reads a chain from: a node's HTTP API (blocks as served for sync) or a data folder. */
import { fromHex, isHex, type Hex } from '../protocol/bytes.js';
import type { RawBlock } from '../chain/audit/replay.js';
import { decodeVote } from '../chain/consensus/finality.js';
import { NodeClient } from '../protocol/client.js';
import { AiloError, NodeError, nodeErrorOf } from '../protocol/errors.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCapped } from './p2p/network.js';

/** A chain source that cannot be read or answers in an unknown shape; `cause` holds the node's error, if any. */
export class SourceError extends AiloError {
  override name = 'SourceError';

  constructor(message: string, options?: { cause?: unknown }) {
    super('AUDIT_SOURCE', message, options);
  }
}

/**
 * The text of a success from the node at `nodeUrl`: each request may take up to a minute, and a node that restarts
 * or is busy during a long audit is retried (the protocol client's policy).
 */
async function getText(nodeUrl: string, path: string): Promise<string> {
  try {
    const res = await new NodeClient(nodeUrl).request(path, {}, { timeoutMs: 60_000 });
    if (!res.ok) throw await nodeErrorOf(res, path);
    return await res.text();
  } catch (err) {
    if (err instanceof NodeError)
      throw new SourceError(`${nodeUrl}${path}: ${err.unanswered ? 'cannot reach it' : `answered ${err.status}`}: ${err.message}`, {
        cause: err,
      });
    throw err;
  }
}

async function getJson(nodeUrl: string, path: string): Promise<unknown> {
  const text = await getText(nodeUrl, path);
  try {
    return JSON.parse(text);
  } catch {
    throw new SourceError(`${nodeUrl}${path} did not answer JSON`);
  }
}

export function fetchGenesisText(nodeUrl: string): Promise<string> {
  return getText(nodeUrl, '/api/chain/genesis');
}

/** The final block a node reports, read before the replay starts (the votes it serves must prove it). */
export async function claimedFinal(nodeUrl: string): Promise<{ height: bigint; hash: Hex } | undefined> {
  const head = (await getJson(nodeUrl, `/api/chain/head`)) as { finalizedHeight?: unknown; finalizedHash?: unknown };
  if (typeof head.finalizedHeight !== 'string' || !/^[0-9]+$/.test(head.finalizedHeight) || !isHex(head.finalizedHash, 32))
    return undefined;
  return { height: BigInt(head.finalizedHeight), hash: head.finalizedHash.toLowerCase() as Hex };
}

/** Pages through every finality vote a node serves (/api/chain/votes), from target height 0 up. */
export async function* httpVotes(nodeUrl: string, pageSize = 10_000): AsyncGenerator<Uint8Array[]> {
  let from = 0n;
  for (;;) {
    const page = (await getJson(nodeUrl, `/api/chain/votes?from=${from}&limit=${pageSize}`)) as { votes?: unknown };
    if (!Array.isArray(page.votes) || !page.votes.every((v) => isHex(v)))
      throw new SourceError(`${nodeUrl} answered /api/chain/votes in an unknown shape`);
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
    const page = (await getJson(nodeUrl, `/api/chain/blocks?from=${from}&limit=${pageSize}`)) as { head?: unknown; blocks?: unknown };
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

/**
 * Accepted updates by digest (0x + sha256 hex) from a node's `GET /api/update/:digest`: `attempts` tries (default 3),
 * each at most `timeoutMs` (default a minute), at most `maxBytes` read (a node that stalls or streams without end costs
 * the auditor a bounded wait and memory). A node that answers no such route runs no training rounds: the error says
 * where to audit instead. The caller checks the bytes against the digest.
 */
export function httpUpdates(
  nodeUrl: string,
  maxBytes: number,
  { attempts = 3, timeoutMs = 60_000 }: { attempts?: number; timeoutMs?: number } = {},
): (digest: Hex) => Promise<Uint8Array> {
  const client = new NodeClient(nodeUrl, { retry: { attempts, baseMs: 1000, maxMs: 5000 } });
  return async (digest) => {
    const what = `update ${digest.slice(0, 14)}`;
    const res = await client.request(`/api/update/${digest}`, {}, { what, timeoutMs });
    if (res.ok) return readCapped(res, maxBytes, what);
    const err = await nodeErrorOf(res, what);
    if (err.status === 404 && err.code !== 'UNKNOWN_UPDATE')
      throw new SourceError(`${nodeUrl} serves no updates (it runs no training rounds): audit the round coordinator, or its data folder`, {
        cause: err,
      });
    throw err;
  };
}

/** Accepted updates by digest from a data folder's `federation/updates/`. */
export function folderUpdates(dir: string): (digest: Hex) => Promise<Uint8Array> {
  return async (digest) => {
    const path = join(dir, digest.replace(/^0x/, ''));
    if (!existsSync(path)) throw new SourceError(`${path} is missing: this data folder does not hold the update`);
    return new Uint8Array(readFileSync(path));
  };
}
