/**
 * The node among its peers: gossips transactions and new blocks, and keeps the chain on the heaviest valid tip
 * its peers offer (Clique fork choice), syncing from genesis or from its head and verifying every block. A fork
 * heavier than ours is followed by rolling back to the common ancestor, never below finality.
 *
 * Every request it sends carries this node's signed envelope, and it talks only to peers whose handshake proved their
 * node id (envelope.ts). A peer loses standing only for data it provably sent that is provably invalid; what may be
 * temporary (a block from the near future, an unknown parent, a peer behind, a fork below our finality) is deferred
 * and retried, never punished.
 */
import { concatBytes, isHex, type Hex } from '../../protocol/bytes.js';
import { decodeBlock, encodeBlock, MAX_BLOCK_BYTES, sealDigest, type Block } from '../../chain/block/block.js';
import type { Chain } from '../../chain/chain.js';
import { preferTip, type ChainTip } from '../../chain/consensus/clique.js';
import type { Address } from '../../protocol/address.js';
import { randomBytes } from 'node:crypto';
import { BlockError, BlockErrorCode, TxError, TxErrorCode } from '../../chain/errors.js';
import { decodeTx } from '../../chain/tx/codec.js';
import type { SignedTx } from '../../chain/tx/types.js';
import { encodeVote } from '../../chain/consensus/finality.js';
import type { VoteIntake } from '../../chain/chain.js';
import type { LedgerService } from '../ledger-service.js';
import type { PeerRequest, PeerSender, RequestAuthenticator } from './authenticator.js';
import { ENVELOPE_HEADERS, RESPONSE_SIGNATURE_HEADER, verifyHello, verifyResponse, type NodeIdentity } from './envelope.js';
import { PeerSet } from './peer-set.js';
import { RateLimiter } from './rate-limit.js';
import { repeatLimited } from '../log.js';
import { NO_RETRY, NodeClient, type CallOptions } from '../../protocol/client.js';

const REQUEST_TIMEOUT_MS = 10_000;
const SYNC_PAGE = 100;
/** How long a peer whose vote page added nothing is left alone before it is asked again. */
const VOTE_RETRY_MS = 5_000;
/** The most blocks of a fork fetched and judged before switching to it (ten pages). */
const MAX_FORK_BLOCKS = 1000;
/**
 * Gossip is one try per peer: a peer backing off, a lost request or a refusal (a gap in the sender's nonces the
 * peer had not yet closed) would leave a transaction in this pool only. So what stays pending longer than this is
 * announced again, oldest first, a bounded number per sync round; a peer that has it answers 'known'.
 */
const REANNOUNCE_AFTER_MS = 2_000;
const REANNOUNCE_MAX = 64;
/** Handshakes with learned candidate URLs, at most this many a second (a spray of identities cannot make us dial more). */
const HANDSHAKES_PER_SECOND = 2;
/** A block stamped up to this far ahead is waited for (synced again later); further ahead it is refused, unpunished. */
const FUTURE_WAIT_MS = 60_000;
/** How long a peer whose chain we cannot follow right now (fork below finality, far-future blocks) is not synced from. */
const DEFER_SYNC_MS = 30_000;

/**
 * Refusals that prove nothing against the sender: our head moved meanwhile, the block's time has not come yet, or
 * its chain conflicts with what is final here (another fork, not invalid data).
 */
function notTheSendersFault(err: BlockError): boolean {
  return (
    err.code === BlockErrorCode.PARENT_MISMATCH ||
    err.code === BlockErrorCode.WRONG_HEIGHT ||
    err.code === BlockErrorCode.FUTURE_TIMESTAMP ||
    err.code === BlockErrorCode.BELOW_FINALITY ||
    // A relay cannot recompute a model version (only coordinators keep the model): the block's sealer is at fault.
    err.code === BlockErrorCode.MODEL_MISMATCH ||
    err.code === BlockErrorCode.MODEL_UNCHECKED
  );
}

/** What `request` sends: bytes only, so the envelope can sign exactly the body that goes out. */
export interface PeerRequestInit {
  method?: 'GET' | 'POST';
  body?: Uint8Array;
  headers?: Record<string, string>;
}

/**
 * Node to node calls go through the one client: one try each (the peer table backs an unanswering peer off), every
 * status the peer's answer to judge, at most REQUEST_TIMEOUT_MS.
 */
const PEER_CALL: CallOptions = { retry: NO_RETRY, transientAsAnswer: true, timeoutMs: REQUEST_TIMEOUT_MS };
const peerClient = (url: string): NodeClient => new NodeClient(url);

export class PeerError extends Error {
  override name = 'PeerError';
}

interface BlockPage {
  blocks: Block[];
  /** Signed by the peer's proven node id (RESPONSE_SIGNATURE_HEADER). */
  signed: boolean;
}

interface PeerHead {
  height: bigint;
  hash: Hex;
  totalWeight: bigint;
  /** What the peer says of its chain's finality; checked only through the votes it then serves. */
  justifiedHeight: bigint;
  finalizedHeight: bigint;
}

/** A page of votes is at most 1,000 votes of 256 bytes; a block page at most the server's 16 MiB plus one block. */
const MAX_VOTE_PAGE_BYTES = 1000 * (4 + 256);
const MAX_BLOCK_PAGE_BYTES = 16 * 1024 * 1024 + MAX_BLOCK_BYTES;

/** Reads a response body, refusing (and aborting) one larger than `max` bytes: a peer cannot make us buffer more. */
export async function readCapped(res: Response, max: number, what: string): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > max) {
    await res.body?.cancel();
    throw new PeerError(`${what} is ${declared} bytes, more than the ${max} allowed`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body?.getReader();
  if (!reader) return new Uint8Array(0);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel();
      throw new PeerError(`${what} is larger than the ${max} bytes allowed`);
    }
    chunks.push(value);
  }
  return concatBytes(...chunks);
}

/** Reads length-prefixed frames (4-byte big-endian length, then the bytes), as /api/chain/blocks and /votes send them. */
export function readFrames(body: Uint8Array, what: string): Uint8Array[] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const out: Uint8Array[] = [];
  for (let at = 0; at < body.length;) {
    if (at + 4 > body.length) throw new PeerError(`truncated ${what}`);
    const length = view.getUint32(at);
    if (at + 4 + length > body.length) throw new PeerError(`truncated ${what}`);
    out.push(body.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return out;
}

export interface NetworkCounters {
  /** Sync rounds finished (each: handshakes, discovery now and then, the heaviest tip). */
  rounds: number;
  blocksImported: number;
  txsImported: number;
  votesImported: number;
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
  /** Peer URL -> until when it is not synced from (see DEFER_SYNC_MS). */
  private readonly deferred = new Map<string, number>();
  /** Peer URL -> until when its vote pages are not fetched (its last one added nothing; see syncVotes). */
  private readonly fruitlessVotes = new Map<string, number>();
  /** Peer URL -> the head of a fork judged not better than ours (see syncWith). */
  private readonly judged = new Map<string, Hex>();
  private readonly handshakes = new RateLimiter(HANDSHAKES_PER_SECOND, HANDSHAKES_PER_SECOND);
  readonly counters: NetworkCounters = {
    rounds: 0,
    blocksImported: 0,
    txsImported: 0,
    votesImported: 0,
    syncs: 0,
    reorgs: 0,
    rejectedFromPeers: 0,
  };

  constructor(
    private readonly chain: Chain,
    private readonly ledger: LedgerService,
    readonly peers: PeerSet,
    readonly identity: NodeIdentity,
    private readonly authenticator: RequestAuthenticator,
    private readonly log: (line: string) => void,
    private readonly syncIntervalMs = Math.max(250, Math.min(chain.spec.blockPeriodMs, 2000)),
  ) {
    peers.selfId = identity.id;
    this.logRepeated = repeatLimited(log);
  }

  /** Lines a peer's junk can repeat without bound (penalties short of a ban), limited per kind. */
  private readonly logRepeated: (kind: string, line: string) => void;

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

  /**
   * Sends a request to a peer URL with this node's signed envelope (method, path, body, recipient and time are
   * signed). For peers in the table; an answer marks the peer seen, no answer backs it off.
   */
  async request(peer: string, path: string, init: PeerRequestInit = {}): Promise<Response> {
    return (await this.send(peer, path, init)).res;
  }

  /** `request`, also giving the envelope's signature (what a signed answer is bound to). */
  private async send(peer: string, path: string, init: PeerRequestInit): Promise<{ res: Response; signature: string }> {
    const method = init.method ?? (init.body ? 'POST' : 'GET');
    const envelope = this.identity.sign(method, peer, path, init.body);
    const headers = { ...init.headers, ...envelope };
    let res: Response;
    try {
      res = await peerClient(peer).request(path, { method, headers, body: init.body ? new Uint8Array(init.body) : undefined }, PEER_CALL);
    } catch (err) {
      this.peers.unreachable(peer);
      throw new PeerError(`${peer} did not answer: ${(err as Error).message}`, { cause: err });
    }
    this.peers.seen(peer);
    if (res.status === 401) {
      const answer = (await res
        .clone()
        .json()
        .catch(() => undefined)) as { error?: { message?: string } } | undefined;
      this.log(`peer ${peer} refused our signed request: ${answer?.error?.message ?? '401'}`);
    }
    return { res, signature: envelope[ENVELOPE_HEADERS.signature] };
  }

  /** A signed GET to a peer, answered with a JSON object. */
  async getJson(peer: string, path: string): Promise<Record<string, unknown>> {
    const res = await this.request(peer, path);
    if (!res.ok) throw new PeerError(`${peer}${path} answered ${res.status}`);
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder().decode(await readCapped(res, 1024 * 1024, `${peer}${path}`)));
    } catch (err) {
      throw err instanceof PeerError ? err : new PeerError(`${peer}${path} answered no JSON`);
    }
    if (typeof body !== 'object' || body === null) throw new PeerError(`${peer}${path} answered no JSON object`);
    return body as Record<string, unknown>;
  }

  /** Signs and POSTs bytes to every active peer except `except`; a peer that does not answer only backs off. */
  broadcast(path: string, bytes: Uint8Array, except?: string): void {
    for (const peer of this.peers.active()) {
      if (peer === except) continue;
      this.request(peer, path, { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream' } }).then(
        (r) => r.body?.cancel(),
        () => undefined,
      );
    }
  }

  /** Who sent an incoming peer request: a proven node, or undefined (anonymous); throws 401 for skew or replay. */
  authenticate(req: PeerRequest): Promise<PeerSender | undefined> {
    return this.authenticator.authenticate(req);
  }

  /**
   * Dials `url` for the handshake and records the node id it proves there. Only the operator's URLs and learned
   * candidates are ever dialled this way; nothing else is sent to a URL before it passed.
   */
  async handshake(url: string): Promise<Address | undefined> {
    const nonce = `0x${randomBytes(32).toString('hex')}` as Hex;
    try {
      const res = await peerClient(url).request(`/api/p2p/hello?nonce=${nonce}`, {}, { ...PEER_CALL, what: 'the handshake' });
      if (!res.ok) throw new PeerError(`${url} answered the handshake with ${res.status}`);
      const node = verifyHello(await res.json(), this.identity.domain, nonce, url);
      if (!this.peers.admit(url, node)) return undefined;
      this.peers.seen(url);
      return node;
    } catch (err) {
      this.peers.unreachable(url);
      this.log(`handshake with ${url}: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Learns a URL from a proven node that sent us something useful (see PeerSet.propose). */
  private learnFrom(from: PeerSender | undefined): void {
    if (from && !this.peers.has(from.url) && !this.peers.isBanned(from.node)) this.peers.propose(from.url);
  }

  /** A transaction gossiped by a peer: admitted like any other, then passed on if it was new here. */
  async receiveTx(bytes: Uint8Array, from: PeerSender | undefined): Promise<'accepted' | 'known'> {
    let tx: SignedTx;
    try {
      tx = decodeTx(bytes);
    } catch (err) {
      if (from) this.penalize(from.node, 5, `sent a malformed transaction: ${(err as Error).message}`);
      throw new TxError(TxErrorCode.MALFORMED, (err as Error).message);
    }
    try {
      await this.ledger.submit(tx);
    } catch (err) {
      if (err instanceof TxError && err.code === TxErrorCode.DUPLICATE) return 'known';
      if (err instanceof TxError && err.code === TxErrorCode.BAD_SIGNATURE && from)
        this.penalize(from.node, 5, `sent a badly signed transaction ${tx.hash}`);
      if (err instanceof TxError && err.code === TxErrorCode.BAD_EVIDENCE && from)
        this.penalize(from.node, 5, `sent an equivocation report whose evidence proves nothing (${tx.hash})`);
      throw err;
    }
    this.counters.txsImported++;
    this.learnFrom(from);
    return 'accepted';
  }

  /**
   * Finality votes from a peer (gossip, or a page it served): kept and counted if signed by a coordinator, passed on
   * if new. Votes signed by no coordinator are the sender's fault. Evidence of equivocation goes to `onConflict`.
   */
  async receiveVotes(
    votes: Uint8Array[],
    from: PeerSender | undefined,
    relay = true,
  ): Promise<{ added: number; known: number; invalid: number }> {
    const intake = await this.chain.addVotes(votes);
    if (intake.invalid.length > 0 && from)
      this.penalize(from.node, 5, `sent ${intake.invalid.length} invalid vote(s): ${intake.invalid[0]!.reason}`);
    for (const c of intake.conflicts) this.onConflict?.(c);
    this.counters.votesImported += intake.added.length;
    if (intake.added.length > 0) this.learnFrom(from);
    // New votes go on, and so does the second vote of a conflict, once: every node then holds the evidence.
    if (relay)
      for (const v of [...intake.added, ...intake.conflicts.map((c) => c.b)]) this.broadcast('/api/p2p/vote', encodeVote(v), from?.url);
    return { added: intake.added.length, known: intake.known + intake.stale, invalid: intake.invalid.length };
  }

  /** Set by the node: what to do with two conflicting votes of one coordinator (submit the evidence). */
  onConflict: ((conflict: VoteIntake['conflicts'][number]) => void) | undefined;

  /** Set by the node: sees every block a peer sends (gossip or sync), valid or not, before import. */
  onBlockSeen: ((block: Block) => void) | undefined;

  /** Sends this node's own vote to every peer. */
  broadcastVote(bytes: Uint8Array): void {
    this.broadcast('/api/p2p/vote', bytes);
  }

  /** Fetches the votes a peer holds above our final height: how a node that missed gossip catches up on finality. */
  private async syncVotes(peer: string): Promise<void> {
    // A peer whose last page taught us nothing is not asked again for a while: its claims of a higher justified
    // height cost no signature checks every round.
    if ((this.fruitlessVotes.get(peer) ?? 0) > this.identity.now()) return;
    this.fruitlessVotes.set(peer, this.identity.now() + VOTE_RETRY_MS);
    const res = await this.request(peer, `/api/chain/votes?from=${this.chain.finalizedHeight() + 1n}&format=binary`);
    if (!res.ok) throw new PeerError(`${peer} answered ${res.status} for votes`);
    const frames = readFrames(await readCapped(res, MAX_VOTE_PAGE_BYTES, `vote page from ${peer}`), `vote page from ${peer}`);
    const { added } = frames.length > 0 ? await this.receiveVotes(frames, undefined, false) : { added: 0 }; // an unsigned answer: nobody to blame
    if (added > 0) this.fruitlessVotes.delete(peer);
  }

  /**
   * A block gossiped by a peer: imported if it extends our head, otherwise a reason to sync with that peer. An unknown
   * parent from a sender this node will not sync from (anonymous, not a proven peer, and not carrying a coordinator's
   * seal that would make it worth a dial) is 'orphan': nothing follows from it, and the answer says so.
   */
  async receiveBlock(bytes: Uint8Array, from: PeerSender | undefined): Promise<'imported' | 'known' | 'syncing' | 'orphan'> {
    let block: Block;
    try {
      block = decodeBlock(bytes);
    } catch (err) {
      if (from) this.penalize(from.node, 10, `sent a malformed block: ${(err as Error).message}`);
      throw new BlockError(BlockErrorCode.MALFORMED, `malformed block: ${(err as Error).message}`);
    }
    this.onBlockSeen?.(block);
    if (await this.chain.store.blockBytes(block.hash)) return 'known';
    if (block.header.parentHash === this.chain.head.hash) {
      try {
        await this.chain.importBlock(block);
      } catch (err) {
        if (err instanceof BlockError && err.code === BlockErrorCode.FUTURE_TIMESTAMP)
          this.futureBlock(block, from ? this.peers.urlOf(from.node) : undefined);
        else if (err instanceof BlockError && from && !notTheSendersFault(err))
          this.penalize(from.node, 10, `sent an invalid block: ${err.message}`);
        throw err;
      }
      this.counters.blocksImported++;
      this.learnFrom(from);
      return 'imported';
    }
    // A block on another fork (or an unknown parent) properly sealed by a coordinator is something new and valid: its
    // sender may be dialled (after the handshake), else a node nobody dials would never show us its heavier fork.
    let worthDialling = false;
    if (from && !this.peers.has(from.url)) {
      const [sealer] = await this.ledger.verifier.recoverMany([sealDigest(block.header)], [block.signature]);
      worthDialling = sealer === block.header.proposer && this.chain.spec.coordinators.includes(sealer);
      if (worthDialling) this.learnFrom(from);
    }
    // An unknown parent: sync from the sender if it is a proven peer (or once a learned one passes the handshake).
    const peer = from && this.peers.urlOf(from.node);
    if (peer) void this.syncWith(peer).catch((err: Error) => this.log(`sync with ${peer}: ${err.message}`));
    return peer || worthDialling ? 'syncing' : 'orphan';
  }

  /** A block whose time has not come: waited for if near (the next sync rounds import it), else not synced for a while. */
  private futureBlock(block: Block, peer: string | undefined): void {
    const ahead = Number(block.header.timestamp) - this.identity.now();
    if (ahead <= FUTURE_WAIT_MS) {
      this.log(
        `block ${block.header.height} from ${peer ?? 'a peer'} is stamped ${Math.round(ahead / 1000)} s ahead of this node's clock; importing it when its time comes`,
      );
    } else {
      this.log(
        `block ${block.header.height} from ${peer ?? 'a peer'} is stamped ${Math.round(ahead / 1000)} s in the future; refused (check that node's clock)`,
      );
      if (peer) this.deferred.set(peer, this.identity.now() + DEFER_SYNC_MS);
    }
  }

  /**
   * Takes points off a proven node id (a PeerSender's `node`, never a URL or header) for provably invalid data it
   * signed and sent; below the ban line it is banned for 10 minutes.
   */
  penalize(node: Address, points: number, why: string): void {
    this.counters.rejectedFromPeers++;
    if (this.peers.penalize(node, points)) this.log(`peer ${node} banned: ${why}`);
    else this.logRepeated(`penalty: ${why.split(/[:(0-9]/)[0]}`, `peer ${node}: ${why}`);
  }

  /** Penalizes the node proven at `peer` (a URL in the table). */
  private penalizeAt(peer: string, points: number, why: string): void {
    const node = this.peers.nodeAt(peer);
    if (node) this.penalize(node, points, `${why} (at ${peer})`);
  }

  /** One round: learn peers' peers now and then, and follow whichever peer offers the heaviest tip. */
  private async syncRound(): Promise<void> {
    this.ticks++;
    await this.handshakeRound();
    if (this.ticks % 10 === 1) await this.discover();
    this.reannounce();
    let best: { peer: string; head: PeerHead } | undefined;
    const t = this.identity.now();
    for (const [peer, until] of this.deferred) if (until <= t) this.deferred.delete(peer);
    for (const peer of this.peers.active()) {
      if (this.deferred.has(peer)) continue;
      try {
        const head = await this.peerHead(peer);
        const { finality } = this.chain;
        if (
          head.justifiedHeight > finality.justified.height ||
          head.finalizedHeight > finality.finalized.height ||
          (head.hash === this.chain.head.hash && head.justifiedHeight !== finality.justified.height)
        ) {
          await this.syncVotes(peer).catch((err: Error) => this.log(`votes from ${peer}: ${err.message}`));
        }
        if (this.isBetterTip(head, best?.head)) best = { peer, head };
      } catch {
        // unreachable peers back off inside request(); a malformed answer is not worth a ban on its own
      }
    }
    if (best) await this.syncWith(best.peer).catch((err: Error) => this.log(`sync with ${best.peer}: ${err.message}`));
    this.counters.rounds++;
  }

  /** Proves the operator's peers (each round until they answer) and a bounded number of learned candidates. */
  private async handshakeRound(): Promise<void> {
    const urls: string[] = [];
    while (this.peers.candidateCount > 0 && this.handshakes.take('candidates')) urls.push(...this.peers.takeCandidates(1));
    await Promise.all([this.proveConfigured(), ...urls.map((url) => this.handshake(url))]);
  }

  /** Handshakes with the operator's peers not yet proven (and not backing off). */
  async proveConfigured(): Promise<void> {
    await Promise.all(this.peers.unproven().map((url) => this.handshake(url)));
  }

  /** Whether `tip` wins Clique's fork choice against `than` (default: our own head). */
  private isBetterTip(
    tip: ChainTip,
    than: ChainTip = {
      hash: this.chain.head.hash,
      totalWeight: this.chain.totalWeight,
      justifiedHeight: this.chain.finality.justified.height,
    },
  ): boolean {
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
        if (Array.isArray(body.peers)) for (const p of body.peers.slice(0, 64)) if (typeof p === 'string') this.peers.propose(p);
      } catch {
        // as above
      }
    }
  }

  private async peerHead(peer: string): Promise<PeerHead> {
    const h = await this.getJson(peer, '/api/chain/head');
    const uint = (v: unknown, digits: number): v is string => typeof v === 'string' && new RegExp(`^[0-9]{1,${digits}}$`).test(v);
    if (
      !uint(h.height, 20) ||
      !isHex(h.hash, 32) ||
      !uint(h.totalWeight, 30) ||
      !uint(h.justifiedHeight, 20) ||
      !uint(h.finalizedHeight, 20)
    ) {
      throw new PeerError(`${peer} answered /api/chain/head in an unknown shape`);
    }
    return {
      height: BigInt(h.height),
      hash: h.hash.toLowerCase() as Hex,
      totalWeight: BigInt(h.totalWeight),
      justifiedHeight: BigInt(h.justifiedHeight),
      finalizedHeight: BigInt(h.finalizedHeight),
    };
  }

  private async peerHashAt(peer: string, height: bigint): Promise<Hex | undefined> {
    const body = await this.getJson(peer, `/api/chain/hashes?from=${height}&limit=1`);
    const hash = Array.isArray(body.hashes) ? body.hashes[0] : undefined;
    return isHex(hash, 32) ? (hash.toLowerCase() as Hex) : undefined;
  }

  /**
   * A page of raw blocks from `from` upwards, in the binary framing of /api/chain/blocks?format=binary, and whether
   * the peer signed it (only then can what it holds cost the peer points).
   */
  private async fetchBlocks(peer: string, from: bigint): Promise<BlockPage> {
    const { res, signature } = await this.send(peer, `/api/chain/blocks?from=${from}&limit=${SYNC_PAGE}&format=binary`, {});
    if (!res.ok) throw new PeerError(`${peer} answered ${res.status} for blocks from ${from}`);
    const body = await readCapped(res, MAX_BLOCK_PAGE_BYTES, `block page from ${peer}`);
    const node = this.peers.nodeAt(peer);
    const signed =
      node !== undefined && verifyResponse(this.identity.domain, signature, body, res.headers.get(RESPONSE_SIGNATURE_HEADER), node);
    const blocks: Block[] = [];
    for (const bytes of readFrames(body, `block page from ${peer}`)) {
      try {
        const block = decodeBlock(bytes);
        this.onBlockSeen?.(block);
        blocks.push(block);
      } catch (err) {
        if (signed) this.penalizeAt(peer, 25, `sent a malformed block: ${(err as Error).message}`);
        else this.log(`${peer} sent an unsigned page with a malformed block: ${(err as Error).message}`);
        throw err;
      }
    }
    return { blocks, signed };
  }

  /** Follows `peer` if its tip is heavier: finds the common ancestor, rolls back to it if needed, imports the rest. */
  async syncWith(peer: string): Promise<void> {
    if (this.syncing) return;
    this.syncing = true;
    try {
      const head = await this.peerHead(peer);
      if (!this.isBetterTip(head) || (this.judged.get(peer) === head.hash && this.chain.finality.justified.height >= head.justifiedHeight))
        return;
      this.counters.syncs++;
      // The peer's votes first: the fork's justification counts as soon as its blocks are in.
      await this.syncVotes(peer).catch((err: Error) => this.log(`votes from ${peer}: ${err.message}`));
      // Binary search for the highest height where both chains hold the same block (genesis always matches).
      let lo = 0n;
      let hi = head.height < this.chain.height ? head.height : this.chain.height;
      if ((await this.peerHashAt(peer, 0n)) !== (await this.chain.store.hashAtHeight(0n))) {
        // Its handshake was signed for our genesis, so this answer is broken or not its own; nothing to blame it for.
        this.log(`${peer} answered another genesis hash than the one its handshake was signed for; not syncing from it`);
        return;
      }
      while (lo < hi) {
        const mid = (lo + hi + 1n) / 2n;
        if ((await this.peerHashAt(peer, mid)) === (await this.chain.store.hashAtHeight(mid))) lo = mid;
        else hi = mid - 1n;
      }
      const final = this.chain.finalizedHeight();
      if (lo < final) {
        // A chain that left ours below a final block is never followed. Which case it is, the peer's own claim says.
        const why =
          head.finalizedHeight > lo
            ? `it reports block ${head.finalizedHeight} final on that chain, so either more than f coordinators equivocated or it is another network started from the same genesis`
            : `nothing on its side of the fork is final, so it is behind and will follow ours once it has our votes`;
        this.log(
          `peer ${peer} (${this.peers.nodeAt(peer)}) is on a chain that left ours at ${lo}, below our final block ${final}: ${why}; not following it`,
        );
        this.deferred.set(peer, this.identity.now() + DEFER_SYNC_MS);
        return;
      }
      // A fork is judged on what it holds, not on the peer's claims: its blocks (up to MAX_FORK_BLOCKS) are fetched,
      // their seals checked, and their weight and justification computed here; only a better chain is followed.
      let forkPoint: bigint | undefined = lo < this.chain.height ? lo : undefined;
      let forkBlocks: Block[] = [];
      let forkSigned = true;
      if (forkPoint !== undefined) {
        while (forkBlocks.length < MAX_FORK_BLOCKS && lo + 1n + BigInt(forkBlocks.length) <= head.height) {
          const page = await this.fetchBlocks(peer, lo + 1n + BigInt(forkBlocks.length));
          if (page.blocks.length === 0) break;
          forkBlocks = forkBlocks.concat(page.blocks);
          forkSigned &&= page.signed;
        }
        const tip = await this.chain.forkTip(forkPoint, forkBlocks);
        if (!tip || !this.isBetterTip(tip)) {
          this.log(
            `peer ${peer} offered a fork from ${forkPoint} (claimed weight ${head.totalWeight}, justified ${head.justifiedHeight}) that is ${tip ? `not better than ours (weight ${tip.totalWeight}, justified ${tip.justifiedHeight})` : 'not a valid chain of sealed blocks'}; staying`,
          );
          // Not fetched again while the peer's head stays this one (a fork that grows or gains votes is judged anew).
          this.judged.set(peer, head.hash);
          return;
        }
      }
      // The next page downloads while the current one is verified and committed. A fork's blocks are applied
      // together with the rollback, so nothing sealed here in between can split them.
      const firstPage =
        forkPoint !== undefined ? Promise.resolve({ blocks: forkBlocks, signed: forkSigned }) : this.fetchBlocks(peer, lo + 1n);
      let next: Promise<BlockPage> | undefined = firstPage;
      while (next) {
        const { blocks, signed }: BlockPage = await next;
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
          if (err instanceof BlockError) this.refusedFromSync(peer, err, blocks, signed);
          throw err;
        }
        this.counters.blocksImported += blocks.length;
      }
    } finally {
      this.syncing = false;
    }
  }

  /** Why a synced page was refused decides whether the peer is at fault (see notTheSendersFault). */
  private refusedFromSync(peer: string, err: BlockError, blocks: Block[], signed: boolean): void {
    if (err.code === BlockErrorCode.FUTURE_TIMESTAMP) {
      const block =
        blocks.find((b) => b.header.height === err.height) ?? blocks.find((b) => BigInt(this.identity.now()) < b.header.timestamp);
      if (block) this.futureBlock(block, peer);
    } else if (err.code === BlockErrorCode.BELOW_FINALITY) {
      this.log(
        `peer ${peer} (${this.peers.nodeAt(peer)}) is on another fork that conflicts with our final blocks (${err.message}); not following it`,
      );
      this.deferred.set(peer, this.identity.now() + DEFER_SYNC_MS);
    } else if (!notTheSendersFault(err)) {
      if (signed) this.penalizeAt(peer, 25, `served an invalid block: ${err.message}`);
      else this.log(`${peer} served an unsigned page with an invalid block: ${err.message}`);
    }
  }
}
