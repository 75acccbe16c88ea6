/**
 * The node among its peers: gossips transactions and new blocks, and keeps the chain on the heaviest valid tip
 * its peers offer (Clique fork choice), syncing from genesis or from its head and verifying every block. A fork
 * heavier than ours is followed by rolling back to the common ancestor, never below finality.
 */
import { isHex, type Hex } from '../../chain/bytes.js';
import { decodeBlock, encodeBlock, type Block } from '../../chain/block/block.js';
import type { Chain } from '../../chain/chain.js';
import { preferTip, type ChainTip } from '../../chain/consensus/clique.js';
import { BlockError, BlockErrorCode, TxError, TxErrorCode } from '../../chain/errors.js';
import { decodeTx } from '../../chain/tx/codec.js';
import type { SignedTx } from '../../chain/tx/types.js';
import type { LedgerService } from '../ledger-service.js';
import { PeerSet } from './peer-set.js';

const REQUEST_TIMEOUT_MS = 10_000;
const SYNC_PAGE = 100;
/**
 * Gossip is one try per peer: a peer backing off, a lost request or a refusal (a gap in the sender's nonces the
 * peer had not yet closed) would leave a transaction in this pool only. So what stays pending longer than this is
 * announced again, oldest first, a bounded number per sync round; a peer that has it answers 'known'.
 */
const REANNOUNCE_AFTER_MS = 2_000;
const REANNOUNCE_MAX = 64;

/** A block that no longer fits our head (it moved meanwhile) is no fault of the peer that sent it. */
function headMoved(err: BlockError): boolean {
  return err.code === BlockErrorCode.PARENT_MISMATCH || err.code === BlockErrorCode.WRONG_HEIGHT;
}

export class PeerError extends Error {
  override name = 'PeerError';
}

interface PeerHead {
  height: bigint;
  hash: Hex;
  totalWeight: bigint;
}

export interface NetworkCounters {
  blocksImported: number;
  txsImported: number;
  syncs: number;
  reorgs: number;
  rejectedFromPeers: number;
}

export class PeerNetwork {
  private timer: NodeJS.Timeout | undefined;
  private syncing = false;
  private running = false;
  private unsubscribe: (() => void)[] = [];
  private ticks = 0;
  /** When each pending transaction was last gossiped (pruned to what is still pending). */
  private readonly announced = new Map<Hex, number>();
  readonly counters: NetworkCounters = { blocksImported: 0, txsImported: 0, syncs: 0, reorgs: 0, rejectedFromPeers: 0 };

  constructor(
    private readonly chain: Chain,
    private readonly ledger: LedgerService,
    readonly peers: PeerSet,
    private readonly log: (line: string) => void,
    private readonly syncIntervalMs = Math.max(250, Math.min(chain.spec.blockPeriodMs, 2000)),
  ) {}

  start(): void {
    this.running = true;
    this.unsubscribe = [
      this.ledger.onAdded((tx) => {
        this.announced.set(tx.hash, Date.now());
        this.broadcast('/api/p2p/tx', tx.bytes);
      }),
      this.chain.onBlock((block) => {
        if (!this.syncing) this.broadcast('/api/p2p/block', encodeBlock(block));
      }),
    ];
    const tick = (): void => {
      if (!this.running) return;
      void this.syncRound().finally(() => {
        if (this.running) this.timer = setTimeout(tick, this.syncIntervalMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  get isSyncing(): boolean {
    return this.syncing;
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.unsubscribe.forEach((u) => u());
    while (this.syncing) await new Promise((r) => setTimeout(r, 10));
  }

  private async request(peer: string, path: string, init?: RequestInit): Promise<Response> {
    const headers = { ...(init?.headers as Record<string, string> | undefined), 'x-ailo-peer': this.peers.self };
    let res: Response;
    try {
      res = await fetch(peer + path, { ...init, headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    } catch (err) {
      this.peers.unreachable(peer);
      throw new PeerError(`${peer} did not answer: ${(err as Error).message}`);
    }
    this.peers.seen(peer);
    return res;
  }

  private async getJson(peer: string, path: string): Promise<Record<string, unknown>> {
    const res = await this.request(peer, path);
    if (!res.ok) throw new PeerError(`${peer}${path} answered ${res.status}`);
    const body = (await res.json()) as unknown;
    if (typeof body !== 'object' || body === null) throw new PeerError(`${peer}${path} answered no JSON object`);
    return body as Record<string, unknown>;
  }

  /** Sends bytes to every active peer except `except`; failures only cost the peer a point. */
  private broadcast(path: string, bytes: Uint8Array, except?: string): void {
    for (const peer of this.peers.active()) {
      if (peer === except) continue;
      this.request(peer, path, {
        method: 'POST', body: new Uint8Array(bytes), headers: { 'content-type': 'application/octet-stream' },
      }).then((r) => r.body?.cancel(), () => undefined);
    }
  }

  /** A transaction gossiped by a peer: admitted like any other, then passed on if it was new here. */
  async receiveTx(bytes: Uint8Array, from: string | undefined): Promise<'accepted' | 'known'> {
    let tx: SignedTx;
    try {
      tx = decodeTx(bytes);
    } catch (err) {
      if (from) this.penalize(from, 5, `sent a malformed transaction: ${(err as Error).message}`);
      throw new TxError(TxErrorCode.MALFORMED, (err as Error).message);
    }
    try {
      await this.ledger.submit(tx);
    } catch (err) {
      if (err instanceof TxError && err.code === TxErrorCode.DUPLICATE) return 'known';
      if (err instanceof TxError && err.code === TxErrorCode.BAD_SIGNATURE && from) this.penalize(from, 5, `sent a badly signed transaction ${tx.hash}`);
      throw err;
    }
    this.counters.txsImported++;
    return 'accepted';
  }

  /** A block gossiped by a peer: imported if it extends our head, otherwise a reason to sync with that peer. */
  async receiveBlock(bytes: Uint8Array, from: string | undefined): Promise<'imported' | 'known' | 'syncing'> {
    let block: Block;
    try {
      block = decodeBlock(bytes);
    } catch (err) {
      if (from) this.penalize(from, 10, `sent a malformed block: ${(err as Error).message}`);
      throw new BlockError(BlockErrorCode.MALFORMED, `malformed block: ${(err as Error).message}`);
    }
    if (await this.chain.store.blockBytes(block.hash)) return 'known';
    if (block.header.parentHash === this.chain.head.hash) {
      try {
        await this.chain.importBlock(block);
      } catch (err) {
        if (err instanceof BlockError && from && !headMoved(err)) this.penalize(from, 10, `sent an invalid block: ${err.message}`);
        throw err;
      }
      this.counters.blocksImported++;
      return 'imported';
    }
    if (from && !this.peers.isBanned(from)) {
      this.peers.add(from);
      void this.syncWith(from).catch((err: Error) => this.log(`sync with ${from}: ${err.message}`));
    }
    return 'syncing';
  }

  private penalize(peer: string, points: number, why: string): void {
    this.counters.rejectedFromPeers++;
    if (this.peers.penalize(peer, points)) this.log(`peer ${peer} banned: ${why}`);
    else this.log(`peer ${peer}: ${why}`);
  }

  /** One round: learn peers' peers now and then, and follow whichever peer offers the heaviest tip. */
  private async syncRound(): Promise<void> {
    this.ticks++;
    if (this.ticks % 10 === 1) await this.discover();
    this.reannounce();
    let best: { peer: string; head: PeerHead } | undefined;
    for (const peer of this.peers.active()) {
      try {
        const head = await this.peerHead(peer);
        if (this.isBetterTip(head, best?.head)) best = { peer, head };
      } catch {
        // unreachable peers back off inside request(); a malformed answer is not worth a ban on its own
      }
    }
    if (best) await this.syncWith(best.peer).catch((err: Error) => this.log(`sync with ${best.peer}: ${err.message}`));
  }

  /** Whether `tip` wins Clique's fork choice against `than` (default: our own head). */
  private isBetterTip(tip: ChainTip, than: ChainTip = { hash: this.chain.head.hash, totalWeight: this.chain.totalWeight }): boolean {
    return tip.hash !== than.hash && preferTip(tip, than) === tip;
  }

  /** Gossips again the pending transactions last announced over REANNOUNCE_AFTER_MS ago (see above). */
  private reannounce(): void {
    const pool = this.ledger.pool;
    for (const hash of this.announced.keys()) if (!pool.get(hash)) this.announced.delete(hash);
    const now = Date.now();
    let sent = 0;
    for (const tx of pool.take(pool.size)) {
      if (sent >= REANNOUNCE_MAX) break;
      if (now - (this.announced.get(tx.hash) ?? 0) < REANNOUNCE_AFTER_MS) continue;
      this.announced.set(tx.hash, now);
      this.broadcast('/api/p2p/tx', tx.bytes);
      sent++;
    }
  }

  private async discover(): Promise<void> {
    for (const peer of this.peers.active()) {
      try {
        const body = await this.getJson(peer, '/api/peers');
        if (Array.isArray(body.peers)) for (const p of body.peers.slice(0, 64)) if (typeof p === 'string') this.peers.add(p);
      } catch {
        // as above
      }
    }
  }

  private async peerHead(peer: string): Promise<PeerHead> {
    const h = await this.getJson(peer, '/api/chain/head');
    if (typeof h.height !== 'string' || !/^[0-9]{1,20}$/.test(h.height) || !isHex(h.hash, 32) || typeof h.totalWeight !== 'string' || !/^[0-9]{1,30}$/.test(h.totalWeight)) {
      throw new PeerError(`${peer} answered /api/chain/head in an unknown shape`);
    }
    return { height: BigInt(h.height), hash: h.hash.toLowerCase() as Hex, totalWeight: BigInt(h.totalWeight) };
  }

  private async peerHashAt(peer: string, height: bigint): Promise<Hex | undefined> {
    const body = await this.getJson(peer, `/api/chain/hashes?from=${height}&limit=1`);
    const hash = Array.isArray(body.hashes) ? body.hashes[0] : undefined;
    return isHex(hash, 32) ? (hash.toLowerCase() as Hex) : undefined;
  }

  /** A page of raw blocks from `from` upwards, in the binary framing of /api/chain/blocks?format=binary. */
  private async fetchBlocks(peer: string, from: bigint): Promise<Block[]> {
    const res = await this.request(peer, `/api/chain/blocks?from=${from}&limit=${SYNC_PAGE}&format=binary`);
    if (!res.ok) throw new PeerError(`${peer} answered ${res.status} for blocks from ${from}`);
    const body = new Uint8Array(await res.arrayBuffer());
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const blocks: Block[] = [];
    for (let at = 0; at < body.length; ) {
      if (at + 4 > body.length) throw new PeerError(`${peer} sent a truncated block page`);
      const length = view.getUint32(at);
      if (at + 4 + length > body.length) throw new PeerError(`${peer} sent a truncated block page`);
      try {
        blocks.push(decodeBlock(body.subarray(at + 4, at + 4 + length)));
      } catch (err) {
        this.penalize(peer, 25, `sent a malformed block: ${(err as Error).message}`);
        throw err;
      }
      at += 4 + length;
    }
    return blocks;
  }

  /** Follows `peer` if its tip is heavier: finds the common ancestor, rolls back to it if needed, imports the rest. */
  async syncWith(peer: string): Promise<void> {
    if (this.syncing) return;
    this.syncing = true;
    try {
      const head = await this.peerHead(peer);
      if (!this.isBetterTip(head)) return;
      this.counters.syncs++;
      // Binary search for the highest height where both chains hold the same block (genesis always matches).
      let lo = 0n;
      let hi = head.height < this.chain.height ? head.height : this.chain.height;
      if ((await this.peerHashAt(peer, 0n)) !== (await this.chain.store.hashAtHeight(0n))) {
        this.penalize(peer, 50, 'is on another chain (different genesis)');
        return;
      }
      while (lo < hi) {
        const mid = (lo + hi + 1n) / 2n;
        if ((await this.peerHashAt(peer, mid)) === (await this.chain.store.hashAtHeight(mid))) lo = mid;
        else hi = mid - 1n;
      }
      // The next page downloads while the current one is verified and committed. The first page of a fork is
      // applied together with the rollback, so nothing sealed here in between can split them.
      let next: Promise<Block[]> | undefined = this.fetchBlocks(peer, lo + 1n);
      let forkPoint: bigint | undefined = lo < this.chain.height ? lo : undefined;
      while (next) {
        const blocks: Block[] = await next;
        if (blocks.length === 0) break;
        const after: bigint = blocks.at(-1)!.header.height + 1n;
        next = after <= head.height ? this.fetchBlocks(peer, after) : undefined;
        next?.catch(() => undefined);
        try {
          if (forkPoint !== undefined) {
            const removed = await this.chain.switchTo(forkPoint, blocks);
            this.counters.reorgs++;
            this.log(`reorg: rolled back ${removed.length} block(s) to ${forkPoint} to follow ${peer} (weight ${head.totalWeight})`);
            forkPoint = undefined;
          } else {
            await this.chain.importBlocks(blocks);
          }
        } catch (err) {
          if (err instanceof BlockError && !headMoved(err)) this.penalize(peer, 25, `served an invalid block: ${err.message}`);
          throw err;
        }
        this.counters.blocksImported += blocks.length;
      }
    } finally {
      this.syncing = false;
    }
  }
}
