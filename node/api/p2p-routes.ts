/**
 * Peer routes: the identity handshake, gossip of raw transactions and blocks, the peer list, and block hashes by
 * height (fork search). Gossip is authenticated by the sender's signed envelope (p2p/envelope.ts); no header naming
 * a peer is believed.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Chain } from '../../chain/chain.js';
import { isHex } from '../../protocol/bytes.js';
import { MAX_BLOCK_BYTES } from '../../chain/block/block.js';
import { MAX_TX_BYTES } from '../../chain/tx/codec.js';
import type { PeerSender } from '../p2p/authenticator.js';
import { ENVELOPE_HEADERS, RESPONSE_SIGNATURE_HEADER } from '../p2p/envelope.js';
import type { PeerNetwork } from '../p2p/network.js';
import { readRawBody } from './body.js';
import { ApiError, badRequest } from './errors.js';
import { RateLimiter } from '../p2p/rate-limit.js';
import { heightQuery, intQuery } from './params.js';

/** Gossip allowed per sender (its proven node id, else its IP): far above honest traffic, far below a flood. */
export interface GossipLimits {
  txPerSecond: number;
  txBurst: number;
  blocksPerSecond: number;
  blockBurst: number;
}

export const DEFAULT_GOSSIP_LIMITS: GossipLimits = { txPerSecond: 500, txBurst: 2_000, blocksPerSecond: 20, blockBurst: 100 };

export interface GossipRouteOptions {
  perSecond: number;
  burst: number;
  /** Largest body accepted, in bytes. */
  maxBytes: number;
}

/**
 * Registers `POST path` as an authenticated gossip route taking an application/octet-stream body: the envelope is
 * checked (401 for a skewed or replayed one), a banned node is refused (403), and the sender is rate-limited by its
 * proven node id, or by IP when anonymous (429). `handle` gets the body and the proven sender (undefined when
 * anonymous) and sets the answer. Penalties for what the body holds are the handler's, through the network.
 */
export function gossipRoute(
  router: Router,
  path: string,
  network: () => PeerNetwork,
  options: GossipRouteOptions,
  handle: (ctx: Context, body: Uint8Array, from: PeerSender | undefined) => Promise<void>,
): void {
  const limiter = new RateLimiter(options.perSecond, options.burst);
  router.post(path, async (ctx) => {
    const body = await readRawBody(ctx, {
      limit: options.maxBytes,
      type: /^application\/octet-stream\b/i,
      typeName: 'application/octet-stream',
    });
    const from = await network().authenticate({ method: ctx.method, url: ctx.url, header: (name) => ctx.get(name) || undefined, body });
    if (from && network().peers.isBanned(from.node))
      throw new ApiError(403, 'PEER_BANNED', 'this node sent invalid data and is banned for a while');
    if (!limiter.take(from ? `node:${from.node}` : `ip:${ctx.ip}`)) {
      throw new ApiError(429, 'RATE_LIMITED', 'too much gossip from this sender; slow down', { 'Retry-After': '1' });
    }
    await handle(ctx, body, from);
  });
}

export function p2pRoutes(router: Router, chain: Chain, peerNetwork: () => PeerNetwork, limits = DEFAULT_GOSSIP_LIMITS): void {
  // Block pages asked for by a signed request are signed back: what a peer is blamed for, it must have signed.
  router.use('/api/chain/blocks', async (ctx, next) => {
    await next();
    const requestSignature = ctx.get(ENVELOPE_HEADERS.signature);
    if (requestSignature && ctx.status === 200 && ctx.body instanceof Uint8Array) {
      ctx.set(RESPONSE_SIGNATURE_HEADER, peerNetwork().identity.signResponse(requestSignature, ctx.body));
    }
  });

  const hellos = new RateLimiter(20, 50);
  router.get('/api/p2p/hello', (ctx) => {
    const nonce = ctx.query.nonce;
    if (!isHex(nonce, 32)) throw badRequest('BAD_NONCE', 'nonce must be 0x followed by 64 hex digits (32 random bytes)');
    if (!hellos.take(ctx.ip))
      throw new ApiError(429, 'RATE_LIMITED', 'too many handshakes from this address; slow down', { 'Retry-After': '1' });
    ctx.body = peerNetwork().identity.hello(nonce);
  });

  gossipRoute(
    router,
    '/api/p2p/tx',
    peerNetwork,
    { perSecond: limits.txPerSecond, burst: limits.txBurst, maxBytes: MAX_TX_BYTES },
    async (ctx, body, from) => {
      const result = await peerNetwork().receiveTx(body, from);
      ctx.status = result === 'accepted' ? 202 : 200;
      ctx.body = { result };
    },
  );

  gossipRoute(
    router,
    '/api/p2p/block',
    peerNetwork,
    { perSecond: limits.blocksPerSecond, burst: limits.blockBurst, maxBytes: MAX_BLOCK_BYTES },
    async (ctx, body, from) => {
      const result = await peerNetwork().receiveBlock(body, from);
      if (result === 'orphan') {
        throw new ApiError(
          409,
          'UNKNOWN_PARENT',
          "the block's parent is not known here and this node does not sync from the sender: send its ancestors first (oldest first), or join as a peer (GET /api/p2p/hello, then gossip signed for your URL)",
        );
      }
      ctx.status = result === 'imported' ? 201 : 202;
      ctx.body = { result };
    },
  );

  // A finality vote (chain/consensus/finality.ts): counted if signed by a coordinator, then passed on.
  gossipRoute(
    router,
    '/api/p2p/vote',
    peerNetwork,
    { perSecond: limits.txPerSecond, burst: limits.txBurst, maxBytes: 256 },
    async (ctx, body, from) => {
      const result = await peerNetwork().receiveVotes([body], from);
      if (result.invalid > 0)
        throw new ApiError(400, 'VOTE_INVALID', 'the vote is malformed or not signed by a coordinator of this network');
      ctx.status = result.added > 0 ? 202 : 200;
      ctx.body = { result: result.added > 0 ? 'accepted' : 'known' };
    },
  );

  router.get('/api/peers', (ctx) => {
    const { peers, identity } = peerNetwork();
    ctx.body = { self: peers.self, node: identity.id, peers: peers.active(), scores: peers.list() };
  });

  router.get('/api/chain/hashes', async (ctx) => {
    const from = heightQuery(ctx.query.from, 'from') ?? 0n;
    const limit = intQuery(ctx.query.limit, 'limit', 100, 1, 1000);
    const hashes = [];
    for (let h = from; h <= chain.height && hashes.length < limit; h++) hashes.push(await chain.store.hashAtHeight(h));
    ctx.body = { head: chain.height.toString(), hashes };
  });
}
