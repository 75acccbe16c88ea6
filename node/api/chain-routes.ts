/** Chain routes: the head, blocks by height or hash, ranges of raw blocks for sync, and the genesis file. */
import type Router from '@koa/router';
import { toHex, isHex } from '../../chain/bytes.js';
import type { Chain } from '../../chain/chain.js';
import { badRequest, notFound } from './errors.js';
import { heightQuery, intQuery } from './params.js';
import { blockView, headerView } from './views.js';

/** Upper bound on the bytes of one /api/chain/blocks answer; `limit` is cut short to stay under it. */
const MAX_RANGE_BYTES = 16 * 1024 * 1024;

export function chainRoutes(router: Router, chain: Chain, genesisText: string): void {
  router.get('/api/chain/head', async (ctx) => {
    ctx.body = {
      hash: chain.head.hash, ...headerView(chain.head.header), txCount: chain.head.txs.length,
      totalWeight: chain.totalWeight.toString(),
      finalizedHeight: chain.finalizedHeight().toString(),
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
      const out = Buffer.allocUnsafe(blocks.reduce((n, b) => n + 4 + b.bytes.length, 0));
      let at = 0;
      for (const b of blocks) {
        out.writeUInt32BE(b.bytes.length, at);
        out.set(b.bytes, at + 4);
        at += 4 + b.bytes.length;
      }
      ctx.set('x-ailo-head', chain.height.toString());
      ctx.type = 'application/octet-stream';
      ctx.body = out;
      return;
    }
    ctx.body = { head: chain.height.toString(), blocks: blocks.map((b) => ({ height: b.height.toString(), hash: b.hash, raw: toHex(b.bytes) })) };
  });

  router.get('/api/chain/block/:id', async (ctx) => {
    const id = ctx.params.id ?? '';
    let block;
    if (/^[0-9]{1,20}$/.test(id)) block = await chain.blockByHeight(BigInt(id));
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
