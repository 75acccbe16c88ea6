/** Peer routes: gossip of raw transactions and blocks, the peer list, and block hashes by height (fork search). */
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Chain } from '../../chain/chain.js';
import { MAX_BLOCK_BYTES } from '../../chain/block/block.js';
import { MAX_TX_BYTES } from '../../chain/tx/codec.js';
import type { PeerNetwork } from '../p2p/network.js';
import { readRawBody } from './body.js';
import { ApiError } from './errors.js';
import { RateLimiter } from '../p2p/rate-limit.js';
import { heightQuery, intQuery } from './params.js';

const readBinaryBody = (ctx: Context, limit: number): Promise<Uint8Array> =>
  readRawBody(ctx, { limit, type: /^application\/octet-stream\b/i, typeName: 'application/octet-stream' });

/** The sending node's URL, from its gossip header; a node that gossips to us becomes a peer we gossip back to. */
const sender = (ctx: Context, network: PeerNetwork): string | undefined => {
  const from = ctx.get('x-ailo-peer') || undefined;
  if (from) network.peers.add(from);
  return from;
};

/** Gossip allowed per sender (its x-ailo-peer URL, else its IP): far above honest traffic, far below a flood. */
export interface GossipLimits {
  txPerSecond: number;
  txBurst: number;
  blocksPerSecond: number;
  blockBurst: number;
}

export const DEFAULT_GOSSIP_LIMITS: GossipLimits = { txPerSecond: 500, txBurst: 2_000, blocksPerSecond: 20, blockBurst: 100 };

function limit(ctx: Context, limiter: RateLimiter, network: PeerNetwork): void {
  const from = ctx.get('x-ailo-peer') || `ip:${ctx.ip}`;
  if (network.peers.isBanned(from)) throw new ApiError(403, 'PEER_BANNED', 'this sender served invalid data and is banned for a while');
  if (limiter.take(from)) return;
  if (!from.startsWith('ip:')) network.peers.penalize(from, 1);
  throw new ApiError(429, 'RATE_LIMITED', 'too much gossip from this sender; slow down', { 'Retry-After': '1' });
}

export function p2pRoutes(router: Router, chain: Chain, peerNetwork: () => PeerNetwork, limits = DEFAULT_GOSSIP_LIMITS): void {
  const txs = new RateLimiter(limits.txPerSecond, limits.txBurst);
  const blocks = new RateLimiter(limits.blocksPerSecond, limits.blockBurst);
  router.post('/api/p2p/tx', async (ctx) => {
    limit(ctx, txs, peerNetwork());
    const result = await peerNetwork().receiveTx(await readBinaryBody(ctx, MAX_TX_BYTES), sender(ctx, peerNetwork()));
    ctx.status = result === 'accepted' ? 202 : 200;
    ctx.body = { result };
  });

  router.post('/api/p2p/block', async (ctx) => {
    limit(ctx, blocks, peerNetwork());
    const result = await peerNetwork().receiveBlock(await readBinaryBody(ctx, MAX_BLOCK_BYTES), sender(ctx, peerNetwork()));
    ctx.status = result === 'imported' ? 201 : 202;
    ctx.body = { result };
  });

  router.get('/api/peers', (ctx) => {
    const { peers } = peerNetwork();
    ctx.body = { self: peers.self, peers: peers.active(), scores: peers.list() };
  });

  router.get('/api/chain/hashes', async (ctx) => {
    const from = heightQuery(ctx.query.from, 'from') ?? 0n;
    const limit = intQuery(ctx.query.limit, 'limit', 100, 1, 1000);
    const hashes = [];
    for (let h = from; h <= chain.height && hashes.length < limit; h++) hashes.push(await chain.store.hashAtHeight(h));
    ctx.body = { head: chain.height.toString(), hashes };
  });
}
