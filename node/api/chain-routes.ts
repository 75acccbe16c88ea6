/** Chain routes: the head, blocks by height or hash, ranges of raw blocks for sync, and the genesis file. */
import type Router from '@koa/router';
import { toHex, isHex } from '../../protocol/bytes.js';
import type { Chain } from '../../chain/chain.js';
import { badRequest, notFound } from './errors.js';
import { heightQuery, intQuery, uint64Param } from './params.js';
import { encodeVote, faultTolerance, quorum } from '../../chain/consensus/finality.js';
import { toChecksumAddress } from '../../protocol/address.js';
import { blockView, headerView } from './views.js';
import type { ChainHead } from '../../protocol/ledger.js';

/** Upper bound on the bytes of one /api/chain/blocks answer; `limit` is cut short to stay under it. */
const MAX_RANGE_BYTES = 16 * 1024 * 1024;

/** Length-prefixed framing: each item after its 4-byte big-endian length (`readFrames` reads it back). */
function frame(items: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(items.reduce((n, b) => n + 4 + b.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const b of items) {
    view.setUint32(at, b.length);
    out.set(b, at + 4);
    at += 4 + b.length;
  }
  return out;
}

export function chainRoutes(router: Router, chain: Chain, genesisText: string): void {
  router.get('/api/chain/head', async (ctx) => {
    ctx.body = {
      hash: chain.head.hash,
      ...headerView(chain.head.header),
      txCount: chain.head.txs.length,
      totalWeight: chain.totalWeight.toString(),
      finalizedHeight: chain.finalizedHeight().toString(),
      finalizedHash: chain.finality.finalized.hash,
      justifiedHeight: chain.finality.justified.height.toString(),
      justifiedHash: chain.finality.justified.hash,
      quorum: quorum(chain.spec.coordinators.length),
    } satisfies ChainHead;
  });

  // The coordinator set of genesis with what the ledger says of each: convicted of equivocation or not.
  router.get('/api/chain/coordinators', (ctx) => {
    const convicted = chain.convicted();
    ctx.body = {
      quorum: quorum(chain.spec.coordinators.length),
      faultTolerance: faultTolerance(chain.spec.coordinators.length),
      coordinators: chain.spec.coordinators.map((address) => ({ address: toChecksumAddress(address), convicted: convicted.has(address) })),
    };
  });

  // Finality votes held for targets at `from` and above (FFG, chain/consensus/finality.ts), for peers and auditors.
  // JSON lists each vote's hex; `format=binary` frames them like blocks (4-byte big-endian length, then the bytes).
  router.get('/api/chain/votes', async (ctx) => {
    const from = heightQuery(ctx.query.from, 'from') ?? 0n;
    const limit = intQuery(ctx.query.limit, 'limit', 1000, 1, 10_000);
    const format = ctx.query.format ?? 'json';
    if (format !== 'json' && format !== 'binary') throw badRequest('BAD_REQUEST', 'format must be json or binary');
    const votes = await chain.votesFrom(from, limit);
    if (format === 'binary') {
      ctx.type = 'application/octet-stream';
      ctx.body = Buffer.from(frame(votes));
      return;
    }
    ctx.body = { finalizedHeight: chain.finalizedHeight().toString(), votes: votes.map((v) => toHex(v)) };
  });

  // The certificate of a canonical block: the supermajority link of coordinator votes that justified it.
  router.get('/api/chain/certificate/:height', async (ctx) => {
    const height = uint64Param(ctx.params.height, 'height');
    const votes = await chain.certificate(height);
    if (!votes) throw notFound(`block ${height} has no finality certificate on this node (not justified, or not held)`);
    ctx.body = {
      height: height.toString(),
      hash: votes[0]!.target.hash,
      quorum: quorum(chain.spec.coordinators.length),
      source: { height: votes[0]!.source.height.toString(), hash: votes[0]!.source.hash },
      votes: votes.map((v) => ({ voter: v.voter, raw: toHex(encodeVote(v)) })),
    };
  });

  // JSON with hex by default; `format=binary` (for sync) answers the raw blocks, each after its 4-byte big-endian length.
  router.get('/api/chain/blocks', async (ctx) => {
    const from = heightQuery(ctx.query.from, 'from') ?? 0n;
    const limit = intQuery(ctx.query.limit, 'limit', 50, 1, 500);
    const format = ctx.query.format ?? 'json';
    if (format !== 'json' && format !== 'binary') throw badRequest('BAD_REQUEST', 'format must be json or binary');
    const blocks: { height: bigint; hash: string; bytes: Uint8Array }[] = [];
    let bytes = 0;
    for (let h = from; h <= chain.height && blocks.length < limit; h++) {
      const raw = await chain.rawBlockByHeight(h);
      if (!raw) break;
      bytes += raw.bytes.length;
      if (blocks.length > 0 && bytes > MAX_RANGE_BYTES) break;
      blocks.push({ height: h, hash: raw.hash, bytes: raw.bytes });
    }
    if (format === 'binary') {
      ctx.set('x-ailo-head', chain.height.toString());
      ctx.type = 'application/octet-stream';
      ctx.body = Buffer.from(frame(blocks.map((b) => b.bytes)));
      return;
    }
    ctx.body = {
      head: chain.height.toString(),
      blocks: blocks.map((b) => ({ height: b.height.toString(), hash: b.hash, raw: toHex(b.bytes) })),
    };
  });

  router.get('/api/chain/block/:id', async (ctx) => {
    const id = ctx.params.id ?? '';
    let block;
    if (/^[0-9]+$/.test(id)) block = await chain.blockByHeight(uint64Param(id, 'block height'));
    else if (isHex(id, 32)) block = await chain.blockByHash(id.toLowerCase() as `0x${string}`);
    else throw badRequest('BAD_REQUEST', 'block id must be a height or a 0x-prefixed 32-byte hash');
    if (!block) throw notFound(`no block ${id}`);
    ctx.body = blockView(block, true);
  });

  router.get('/api/chain/genesis', (ctx) => {
    ctx.type = 'application/json';
    ctx.body = genesisText;
  });
}
