/**
 * Distributed inference on a coordinator: one room per model (the network's model at its latest version), the
 * contributors' WebSocket channels (`GET /api/inference/room`, upgraded), chat requests streamed token by token, and
 * the `inference_reward` each contributor that served a request earns (genesis `inferenceShare`), signed by this
 * coordinator once the request's checks allow it (room.ts).
 *
 * Self-dealing: a contributor is never paid for a request of its own wallet's account, requests are rate-limited per
 * account (`perAccountPerMinute`, one at a time) and node-wide (`concurrent`), and each reward needs a logged-in
 * account's request that ran through the whole model. A user with many accounts can still pay their own contributor
 * from another account, at most the rate limit per account: accounts are throttled at registration per IP
 * (node/accounts/throttle.ts). That bound is stated in the README.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Address } from '../../protocol/address.js';
import { parseAddress, toChecksumAddress } from '../../protocol/address.js';
import {
  decodeHiddenFrame,
  MAX_TEXT_FRAME_BYTES,
  maxHiddenFrameBytes,
  type ContributorMessage,
  type InferenceModel,
} from '../../protocol/inference.js';
import { signTx } from '../../chain/tx/sign.js';
import type { Hash, InferenceRewardTx, SignedTx } from '../../chain/tx/types.js';
import type { NetworkDomain } from '../../chain/tx/eip712.js';
import { TxError, TxErrorCode } from '../../chain/errors.js';
import { parseSignedInferenceJoin, inferenceJoinDigest } from '../../chain/tx/task-request.js';
import { TaskRequestGuard } from '../federation/task-request-guard.js';
import { FederationError } from '../federation/errors.js';
import type { FederationService } from '../federation/service.js';
import type { LedgerService } from '../ledger-service.js';
import { EmbedHead, SpanRunner, type Span } from '../../trainer/inference/span-runner.js';
import { nodeRuntime } from '../../trainer/runtime/model-session.js';
import { resolveConfig } from '../../trainer/commands.js';
import type { SignedModelManifest } from '../../trainer/federated/model-manifest.js';
import type { ModelConfig } from '../../trainer/model/config.js';
import { loadWeights } from '../../trainer/weights/safetensors.js';
import { ModelStore } from '../federation/model-store.js';
import {
  DEFAULT_ROOM_OPTIONS,
  InferenceRoom,
  Member,
  type RoomCompute,
  type RoomModel,
  type RoomOptions,
  type OwedReward,
  type RoomView,
} from './room.js';

export interface InferenceConfig extends Omit<RoomOptions, 'random' | 'log'> {
  /** Chat requests per account per minute. */
  perAccountPerMinute: number;
  /** Chat requests running at once on this node. */
  concurrent: number;
  /** Contributors per room. */
  maxContributors: number;
  /** Contributors per remote IP address (a room cannot be filled from one machine). */
  contributorsPerAddress: number;
  /** How long a chat request waits for a servable room before answering NO_ROOM (ms). */
  roomWaitMs: number;
  /** How long a wallet whose rows failed a check may not join again (ms). */
  caughtBarMs: number;
  /** How long a request waits for its fee to be in a block before it gives up, running nothing (ms). */
  feeWaitMs: number;
  /** How often each room channel is pinged; one that has not answered the previous ping by then is closed (ms). */
  heartbeatMs: number;
}

export const DEFAULT_INFERENCE: InferenceConfig = {
  ...DEFAULT_ROOM_OPTIONS,
  perAccountPerMinute: 12,
  concurrent: 4,
  maxContributors: 64,
  contributorsPerAddress: 8,
  roomWaitMs: 5_000,
  caughtBarMs: 60 * 60_000,
  feeWaitMs: 60_000,
  heartbeatMs: 30_000,
};

/** The network model's id in GET /api/inference/models. */
export const NETWORK_MODEL_ID = 'ailo';
const JOIN_TIMEOUT_MS = 10_000;
/** How long a stop waits for the chat requests in flight to end and refund their fees (ms). */
const STOP_DRAIN_MS = 15_000;

/** A chat request refused by name (the route maps it to its status). */
/** A charged fee whose block has not come: refunded to `to` should it come after its request gave up. */
interface UnconfirmedFee {
  hash: string;
  to: Address;
  amount: bigint;
}

/** A chat request's fee as it arrived: the signed transfer and the network its body says it was signed for. */
export interface ChatFee {
  tx: SignedTx;
  signedFor: Partial<NetworkDomain>;
}

/** Ledger refusals another try may cure: the nonce was taken by another transaction meanwhile, or the pool is full. */
const RETRIED = new Set<string>([TxErrorCode.BAD_NONCE, TxErrorCode.NONCE_GAP, TxErrorCode.POOL_FULL]);

/**
 * Runs `submit` again after a refusal another try may cure (`RETRIED`), waiting 0.5 s, then twice as long each time,
 * six tries in all (about 30 s); other errors, and the last one, are thrown.
 */
async function retrying(submit: () => Promise<void>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await submit();
    } catch (err) {
      if (!(err instanceof TxError && RETRIED.has(err.code)) || attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    }
  }
}

/** The amount of a fee (a transfer). */
export function feeAmount(fee: ChatFee): bigint {
  return fee.tx.tx.type === 'transfer' ? fee.tx.tx.amount : 0n;
}

export class ChatError extends Error {
  override name = 'ChatError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class InferenceService {
  /** The network model's room (it moves to each new version) and the rooms of imported checkpoints. */
  private room: InferenceRoom | undefined;
  private readonly imported = new Map<string, { room: InferenceRoom; store: ModelStore; signed: SignedModelManifest }>();
  /** The room each channel's member is in. */
  private readonly channelRoom = new Map<WebSocket, InferenceRoom>();
  private wss: WebSocketServer | undefined;
  private readonly joins = new TaskRequestGuard(undefined, undefined, undefined, 'inference join');
  private readonly recent = new Map<string, number[]>();
  /** Wallets caught returning wrong rows -> when they may join again (ms). */
  private readonly barred = new Map<string, number>();
  /** The refund being signed: the next waits for it, so their nonces follow one another. */
  private refunds: Promise<void> = Promise.resolve();
  /** Accounts with a chat request running. */
  private readonly accounts = new Set<string>();
  /** Requests running (their sessions): the room keeps its version while any runs. */
  private readonly sessions = new Set<string>();
  /** Whether each channel answered the last heartbeat ping. */
  private readonly alive = new WeakMap<WebSocket, boolean>();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  /** Fees charged (in the pool) whose block has not come yet, by hash: at a stop they leave the pool uncharged. */
  private readonly unconfirmed = new Map<string, UnconfirmedFee>();
  /** Where a stop keeps the fees still unconfirmed, so that the next start refunds one a peer seals (resumeFeeWatch). */
  private feeWatchPath: string | undefined;
  private readonly members = new Map<WebSocket, Member>();
  /** Each channel's remote address. */
  private readonly addresses = new Map<WebSocket, string>();
  private running = 0;
  private stopped = false;
  readonly cfg: InferenceConfig;

  constructor(
    private readonly federation: FederationService,
    private readonly ledger: LedgerService,
    private readonly key: Uint8Array,
    private readonly coordinator: Address,
    cfg: Partial<InferenceConfig> = {},
    private readonly log: (line: string) => void = () => {},
    private readonly random: () => number = Math.random,
  ) {
    this.cfg = { ...DEFAULT_INFERENCE, ...cfg };
  }

  /** Takes WebSocket upgrades of `/api/inference/room` on `server`; any other upgrade is refused. */
  attach(server: Server): void {
    // Frames beyond the largest legal one (a whole context of hidden states of the widest model) are refused by the
    // WebSocket layer before they are buffered whole.
    const models = [this.federation.modelConfig, ...[...this.imported.values()].map((i) => i.room.model.cfg)];
    const maxPayload = Math.max(MAX_TEXT_FRAME_BYTES, ...models.map((c) => maxHiddenFrameBytes(c.n_positions, c.n_embd)));
    const wss = (this.wss = new WebSocketServer({ noServer: true, maxPayload }));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/api/inference/room' || this.stopped) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      // Channels per address, joined or not: one machine cannot hold the node's sockets open.
      const address = req.socket.remoteAddress ?? '';
      if ([...this.addresses.values()].filter((a) => a === address).length >= this.cfg.contributorsPerAddress) {
        socket.end('HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        this.addresses.set(ws, address);
        this.alive.set(ws, true);
        ws.on('pong', () => this.alive.set(ws, true));
        this.onChannel(ws);
      });
    });
    // Heartbeat (the ws library's pattern): a channel that does not answer a ping within heartbeatMs is closed, so a
    // contributor whose connection died without a close (NAT timeout, sleep) does not keep its place.
    this.heartbeat = setInterval(() => {
      for (const ws of wss.clients) {
        if (this.alive.get(ws) === false) {
          ws.terminate();
          continue;
        }
        this.alive.set(ws, false);
        ws.ping();
      }
    }, this.cfg.heartbeatMs);
    this.heartbeat.unref();
  }

  /**
   * The room of the network's model at the federation's current version. When a new version is published the room
   * moves to it once no request runs on it: the old room's escrows are checked and paid on the old weights, and every
   * contributor is assigned a span again on the new version (it downloads only the chunks that changed).
   */
  private currentRoom(): InferenceRoom {
    const version = this.federation.version;
    if (this.room && (this.room.model.version === version || this.sessions.size > 0)) return this.room;
    const old = this.room;
    const model: RoomModel = {
      id: NETWORK_MODEL_ID,
      name: `AILO, the network's model (${this.federation.modelConfigName})`,
      version,
      configName: this.federation.modelConfigName,
      cfg: this.federation.modelConfig,
      weights: this.federation.currentWeights(),
    };
    const room = new InferenceRoom(model, new NodeCompute(model), this.roomOptions());
    this.room = room;
    if (old) {
      this.log(`inference: the room moves to model version ${version}`);
      const members = old.list();
      old.retire();
      void old
        .settleAll(members)
        .then((owed) => this.pay(owed))
        .finally(() => (old.compute as NodeCompute).dispose());
      for (const [ws, m] of this.members) {
        if (this.channelRoom.get(ws) !== old) continue;
        const moved = new Member(m.id, m.wallet, m.maxLayers, m.channel, m.agent);
        // Its assignments keep counting: a late ready for the old version is not taken for the new one.
        moved.assignment = m.assignment;
        this.members.set(ws, moved);
        this.channelRoom.set(ws, room);
        room.join(moved);
      }
    }
    return room;
  }

  private roomOptions(): RoomOptions {
    return {
      ...this.cfg,
      random: this.random,
      log: this.log,
      onCaught: (wallet) => this.barred.set(wallet.toLowerCase(), Date.now() + this.cfg.caughtBarMs),
    };
  }

  /** The room of model `id`, or undefined for an unknown one. */
  private roomOf(id: string): InferenceRoom | undefined {
    return id === NETWORK_MODEL_ID ? this.currentRoom() : this.imported.get(id)?.room;
  }

  /**
   * Serves an operator's GPT-2-family checkpoint (safetensors as `ailo-trainer import` reads it: GPT-2 names,
   * the config in its metadata or a config.json beside it) in a room of its own, as model `id`: its chunks and
   * manifest, signed by this coordinator, are written under `dataDir/inference/<id>`.
   */
  async importModel(id: string, file: string, dataDir: string): Promise<RoomView> {
    if (!/^[a-z0-9][a-z0-9._-]{0,39}$/.test(id) || id === NETWORK_MODEL_ID)
      throw new Error(`model id "${id}" must be 1-40 of a-z 0-9 . _ - (and not "${NETWORK_MODEL_ID}")`);
    if (this.imported.has(id)) throw new Error(`model id "${id}" is given twice`);
    const cfg = await resolveConfig(undefined, file);
    const weights = await loadWeights(file, cfg);
    const store = new ModelStore(join(dataDir, 'inference', id));
    const signed = store.publish(id, cfg, 0, weights, this.key, this.coordinator);
    const model: RoomModel = { id, name: `${id} (imported checkpoint)`, configName: configLabel(cfg), cfg, weights };
    const room = new InferenceRoom(model, new NodeCompute(model), this.roomOptions());
    this.imported.set(id, { room, store, signed });
    this.log(`inference: serving ${file} as model ${id} (${cfg.n_layer} layers, d=${cfg.n_embd})`);
    return room.view();
  }

  /** The signed manifest of an imported model (GET /api/inference/models/:id/manifest). */
  importedManifest(id: string): SignedModelManifest | undefined {
    return this.imported.get(id)?.signed;
  }

  /** Where an imported model's chunk is kept, if one of them has it (chunks are named by their sha256). */
  importedChunkPath(name: string): string | undefined {
    for (const { store } of this.imported.values()) {
      const path = store.chunkPath(name);
      if (existsSync(path)) return path;
    }
    return undefined;
  }

  /** GET /api/inference/models: the network's model, then the imported ones. */
  models(): InferenceModel[] {
    const share = this.ledger.chain.spec.rewards.inferenceShare;
    return [this.currentRoom(), ...[...this.imported.values()].map((i) => i.room)].map((room) => ({
      ...room.view(),
      requestFee: this.requestFee(room).toString(),
      inferenceShare: share.toString(),
      feeTo: toChecksumAddress(this.coordinator),
    }));
  }

  /** The genesis `inferenceShare`: what each paid contributor earns for a request (base units). */
  get share(): bigint {
    return this.ledger.chain.spec.rewards.inferenceShare;
  }

  /** What a request in `room` costs now (base units): `inferenceShare` for each span that would be paid. */
  requestFee(room: InferenceRoom): bigint {
    return this.ledger.chain.spec.rewards.inferenceShare * BigInt(room.payableSpans());
  }

  /** One contributor's channel: a signed join first, then `ready`, results and errors. */
  private onChannel(ws: WebSocket): void {
    const close = (code: string, message: string): void => {
      try {
        ws.send(JSON.stringify({ type: 'closing', code, message }));
      } catch {
        // gone
      }
      ws.close(4000, code);
    };
    const timer = setTimeout(() => {
      if (!this.members.has(ws)) close('BAD_JOIN', `send a join message within ${JOIN_TIMEOUT_MS / 1000} s`);
    }, JOIN_TIMEOUT_MS);
    let joining = false;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const member = this.members.get(ws);
      const room = this.channelRoom.get(ws);
      if (isBinary) {
        if (!member || !room) return close('BAD_FRAME', 'join first');
        let frame;
        try {
          const cfg = room.model.cfg;
          frame = decodeHiddenFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), cfg.n_embd, cfg.n_positions);
        } catch (err) {
          return room.remove(member, 'BAD_FRAME', (err as Error).message);
        }
        const refused = member.answer(frame.header, frame.values);
        if (refused) room.remove(member, 'BAD_FRAME', refused);
        return;
      }
      if (data.length > MAX_TEXT_FRAME_BYTES) return close('BAD_FRAME', `a text frame may hold at most ${MAX_TEXT_FRAME_BYTES} bytes`);
      let msg: ContributorMessage;
      try {
        msg = JSON.parse(data.toString('utf8')) as ContributorMessage;
      } catch {
        return close('BAD_FRAME', 'a text frame must be one JSON message');
      }
      if (msg?.type === 'join') {
        if (member || joining) return close('BAD_FRAME', 'joined already');
        joining = true;
        this.join(ws, msg).then(
          () => clearTimeout(timer),
          (err: ChatError) => close(err.code ?? 'BAD_JOIN', err.message),
        );
        return;
      }
      if (!member || !room) return close('BAD_FRAME', 'join first');
      if (msg?.type === 'ready') room.ready(member, typeof msg.assignment === 'number' ? msg.assignment : member.assignment);
      else if (msg?.type === 'error')
        room.remove(member, 'CONTRIBUTOR_ERROR', `the contributor failed: ${String(msg.message).slice(0, 200)}`);
      else room.remove(member, 'BAD_FRAME', 'unknown message type');
    });
    ws.on('close', () => {
      clearTimeout(timer);
      const m = this.members.get(ws);
      const r = this.channelRoom.get(ws);
      this.members.delete(ws);
      this.addresses.delete(ws);
      this.channelRoom.delete(ws);
      if (!m || !r) return;
      r.leave(m, 'closed its channel');
      void r.settleDeparture(m).then((owed) => this.pay(owed));
    });
    ws.on('error', () => {});
  }

  private async join(ws: WebSocket, msg: Extract<ContributorMessage, { type: 'join' }>): Promise<{ member: Member; room: InferenceRoom }> {
    const room = typeof msg.model === 'string' ? this.roomOf(msg.model) : undefined;
    if (!room)
      throw new ChatError(404, 'UNKNOWN_MODEL', `no model ${String(msg.model).slice(0, 40)}; GET /api/inference/models lists them`);
    if (!Number.isSafeInteger(msg.maxLayers) || msg.maxLayers < 1)
      throw new ChatError(400, 'BAD_JOIN', 'maxLayers must be a positive integer');
    const parsed = parseSignedInferenceJoin(msg.join);
    if (!parsed.ok) throw new ChatError(400, 'BAD_JOIN', `${parsed.field}: ${parsed.message}`);
    const req = parsed.request;
    if (req.coordinator !== this.coordinator)
      throw new ChatError(421, 'BAD_JOIN', `the join is signed for coordinator ${req.coordinator}; this is ${this.coordinator}`);
    try {
      this.joins.check(req);
    } catch (err) {
      throw new ChatError(400, 'BAD_JOIN', (err as FederationError).message);
    }
    const [signer] = await this.ledger.verifier.recoverMany([inferenceJoinDigest(req, this.ledger.network)], [parsed.signature]);
    if (signer !== req.wallet)
      throw new ChatError(
        403,
        'BAD_JOIN',
        `the join is not signed by ${req.wallet} for this network (it recovers to ${signer ?? 'no key'})`,
      );
    this.joins.use(req);
    const barredUntil = this.barred.get(req.wallet.toLowerCase()) ?? 0;
    if (barredUntil > Date.now())
      throw new ChatError(
        403,
        'BAD_JOIN',
        `${toChecksumAddress(req.wallet)} returned wrong hidden states and may join again at ${new Date(barredUntil).toISOString()}`,
      );
    // A request pays a wallet once (one inference_reward per request and node), so a wallet holds one place per room:
    // a newer join signed by it (a contributor reconnecting before the node saw its old channel drop) takes the place
    // of the older one, which is told why (REPLACED) and settled as any departure.
    const older = room.list().find((m) => !m.left && m.wallet.toLowerCase() === req.wallet.toLowerCase());
    if (older) room.remove(older, 'REPLACED', 'a newer join signed by this wallet took its place (a wallet holds one place per room)');
    if (msg.maxLayers < room.minSpanLayers)
      throw new ChatError(
        400,
        'BAD_JOIN',
        `${room.model.id} pays at most ${this.cfg.maxSpans} contributors a request, so each holds at least ${room.minSpanLayers} of its ${room.layers} layers; this contributor offers ${msg.maxLayers}`,
      );
    if (room.list().length >= this.cfg.maxContributors)
      throw new ChatError(429, 'ROOM_FULL', `the room holds ${this.cfg.maxContributors} contributors`);
    const id = `c${randomBytes(6).toString('hex')}`;
    const member = new Member(
      id,
      toChecksumAddress(req.wallet),
      Math.min(msg.maxLayers, room.layers),
      {
        sendJson: (m) => ws.send(JSON.stringify(m)),
        sendBinary: (f) => ws.send(f, { binary: true }),
        close: (code) => ws.close(4000, code),
      },
      typeof msg.agent === 'string' ? msg.agent.slice(0, 80) : '',
    );
    this.members.set(ws, member);
    this.channelRoom.set(ws, room);
    room.join(member);
    return { member, room };
  }

  /** Checks a chat request's account against the rate limits; throws a 429 ChatError. Call `finished` after. */
  admit(account: string): () => void {
    const now = Date.now();
    const times = (this.recent.get(account) ?? []).filter((t) => t > now - 60_000);
    if (this.accounts.has(account)) throw new ChatError(429, 'CHAT_BUSY', 'this account has a chat request running; wait for its answer');
    if (times.length >= this.cfg.perAccountPerMinute)
      throw new ChatError(
        429,
        'CHAT_RATE_LIMITED',
        `at most ${this.cfg.perAccountPerMinute} chat requests a minute per account; wait a little`,
      );
    if (this.running >= this.cfg.concurrent)
      throw new ChatError(503, 'CHAT_BUSY', 'the node is answering as many chat requests as it can; try again shortly');
    times.push(now);
    this.recent.set(account, times);
    this.accounts.add(account);
    this.running++;
    return () => {
      this.accounts.delete(account);
      this.running--;
    };
  }

  /** The room a chat request for `model` runs in, once servable (waits `roomWaitMs`); throws NO_ROOM / UNKNOWN_MODEL. */
  async roomFor(model: string): Promise<InferenceRoom> {
    const room = this.roomOf(model);
    if (!room) throw new ChatError(404, 'UNKNOWN_MODEL', `no model ${model.slice(0, 40)}; GET /api/inference/models lists them`);
    if (!(await room.waitForChain(this.cfg.roomWaitMs))) {
      const layer = room.firstUnheld() ?? 0;
      throw new ChatError(
        503,
        'NO_ROOM',
        `no room can serve ${model} now: layer ${layer} of ${room.layers} has no contributor (${room.list().length} in the room); contributors join from the Chat page or with ailo-miner --serve`,
      );
    }
    return room;
  }

  /**
   * Checks a chat request's fee before anything runs: a transfer from `requester` to this coordinator of at least
   * `requestFee(room)`, signed for this network, that the pending state would take now (nonce, balance). Returns how
   * many contributors it pays (`payable`: fee / inferenceShare, at most maxSpans) and the slots it priced (the spans
   * of the chain now: RequestPipeline.slots). Throws a 402 ChatError: FEE_WRONG (sender or recipient), FEE_TOO_LOW
   * (naming the fee), FEE_REFUSED (the ledger's reason: signature, nonce, balance).
   */
  async checkFee(fee: ChatFee, room: InferenceRoom, requester: Address): Promise<{ payable: number; slots: Span[] }> {
    const slots = room.slotsNow();
    const tx = fee.tx.tx;
    if (tx.type !== 'transfer') throw new ChatError(402, 'FEE_WRONG', 'the fee must be a transfer');
    if (tx.from !== requester)
      throw new ChatError(
        402,
        'FEE_WRONG',
        `the fee is sent from ${toChecksumAddress(tx.from)}; it must come from your account ${toChecksumAddress(requester)}`,
      );
    if (tx.to !== this.coordinator)
      throw new ChatError(
        402,
        'FEE_WRONG',
        `the fee pays ${toChecksumAddress(tx.to)}; it must pay this node's coordinator ${toChecksumAddress(this.coordinator)} (feeTo in GET /api/inference/models)`,
      );
    const due = this.requestFee(room);
    if (tx.amount < due)
      throw new ChatError(
        402,
        'FEE_TOO_LOW',
        `the fee is ${tx.amount} base units; a request to this room now costs ${due} (requestFee in GET /api/inference/models): sign it again`,
      );
    try {
      await this.ledger.check(fee.tx, fee.signedFor);
    } catch (err) {
      if (err instanceof TxError) throw new ChatError(402, 'FEE_REFUSED', `the ledger refuses the fee: ${err.message}`);
      throw err;
    }
    const share = this.ledger.chain.spec.rewards.inferenceShare;
    const payable = Number(BigInt(this.cfg.maxSpans) < tx.amount / share ? BigInt(this.cfg.maxSpans) : tx.amount / share);
    return { payable, slots };
  }

  /** Submits a checked fee to the pool (the request is charged); a 402 ChatError FEE_REFUSED if the ledger refuses it now. */
  async chargeFee(fee: ChatFee): Promise<void> {
    try {
      await this.ledger.submit(fee.tx, fee.signedFor);
      this.unconfirmed.set(fee.tx.hash, {
        hash: fee.tx.hash,
        to: fee.tx.tx.type === 'transfer' ? fee.tx.tx.from : this.coordinator,
        amount: feeAmount(fee),
      });
    } catch (err) {
      if (err instanceof TxError) throw new ChatError(402, 'FEE_REFUSED', `the ledger refuses the fee: ${err.message}`);
      throw err;
    }
  }

  /**
   * Waits until a charged fee is in a block (at most `feeWaitMs`), so that the room computes nothing for a fee that
   * might never be paid (its nonce spent by another transaction on another coordinator). False when it left the pool
   * without a block (another transaction took its nonce) or the time ran out; then, should it reach a block later
   * after all, it is refunded in full (watched for up to ten times `feeWaitMs`).
   */
  async feeConfirmed(fee: ChatFee): Promise<boolean> {
    const state = await this.untilSettled(fee.tx.hash, this.cfg.feeWaitMs);
    if (state === 'confirmed') this.unconfirmed.delete(fee.tx.hash);
    if (state === 'confirmed') return true;
    const entry = this.unconfirmed.get(fee.tx.hash);
    if (entry) void this.watchLateFee(entry, state);
    return false;
  }

  /**
   * A fee whose request never ran: refunded in full should it reach a block after all (a peer coordinator may seal
   * it), watched for up to ten times `feeWaitMs`; `state` is what it was last seen as.
   */
  private async watchLateFee(entry: UnconfirmedFee, state: 'pending' | 'unknown' | 'confirmed', resumed = false): Promise<void> {
    // An 'unknown' fee left this node's pool because its nonce was spent: no block can take it any more. One resumed
    // from before a restart was taken out of the pool by the stop itself: a peer may still seal it, so only a block
    // (or the end of the watch) settles it.
    const late = state === 'pending' ? await this.untilSettled(entry.hash, 10 * this.cfg.feeWaitMs, resumed) : state;
    if (late === 'pending' && this.stopped) return; // kept by stop for the next start
    this.unconfirmed.delete(entry.hash);
    if (late === 'confirmed')
      await this.refund(entry.to, entry.amount, `the fee ${entry.hash.slice(0, 10)}, sealed after its request gave up`);
  }

  /**
   * Takes over the fees a previous run left unconfirmed at its stop (kept at `path`, which a stop writes again): each
   * is watched, and refunded in full should a block take it. Call once at start, after the network is up.
   */
  resumeFeeWatch(path: string): void {
    this.feeWatchPath = path;
    if (!existsSync(path)) return;
    let entries: { hash: string; to: string; amount: string }[] = [];
    try {
      entries = JSON.parse(readFileSync(path, 'utf8')) as typeof entries;
    } catch (err) {
      this.log(`inference: ${path} does not parse (${(err as Error).message}); its fees are not watched`);
    }
    rmSync(path, { force: true });
    for (const e of Array.isArray(entries) ? entries : []) {
      if (typeof e?.hash !== 'string' || !/^0x[0-9a-f]{64}$/.test(e.hash) || !/^[0-9]{1,78}$/.test(String(e.amount))) continue;
      let to: Address;
      try {
        to = parseAddress(e.to);
      } catch {
        continue;
      }
      const entry = { hash: e.hash, to, amount: BigInt(e.amount) };
      this.unconfirmed.set(entry.hash, entry);
      void this.watchLateFee(entry, 'pending', true);
    }
  }

  /**
   * Polls a submitted transaction until it is in a block or gone from the pool (`untilBlock`: until it is in a block;
   * gone counts as still waiting), at most `ms`; its state then.
   */
  private async untilSettled(hash: string, ms: number, untilBlock = false): Promise<'confirmed' | 'pending' | 'unknown'> {
    const end = Date.now() + ms;
    for (;;) {
      // Once stopping, the store may close at any moment: a fee still waiting is reported pending (stop keeps it).
      if (this.stopped) return 'pending';
      const state = await this.ledger.txState(hash as Hash);
      if (state === 'confirmed' || (state === 'unknown' && !untilBlock)) return state;
      if (Date.now() > end) return untilBlock ? 'unknown' : state;
      await new Promise((r) => setTimeout(r, untilBlock ? 500 : 50));
    }
  }

  /**
   * Pays `amount` back to `to` from this coordinator's account (the part of a request's fee its contributors did not
   * earn, all of it for a request that failed before anyone served it): a transfer signed by the coordinator at its
   * next nonce. Refunds run one at a time, so each takes the nonce after the one before. A ledger refusal is logged,
   * never thrown (the answer was already given).
   */
  refund(to: Address, amount: bigint, what: string): Promise<void> {
    if (amount <= 0n) return Promise.resolve();
    const run = async (): Promise<void> => {
      try {
        // Signed at the nonce pending now; another transfer of the coordinator's (its operator's) may take that nonce
        // first, or the pool may be full: sign again and retry.
        await retrying(() => {
          const nonce = this.ledger.pool.pendingState.account(this.coordinator).nonce;
          const tx = signTx({ type: 'transfer', from: this.coordinator, to, amount, nonce }, this.key, this.ledger.network);
          return this.ledger.submit(tx);
        });
        this.log(`inference: refunded ${amount} to ${toChecksumAddress(to)} for ${what}`);
      } catch (err) {
        this.log(`inference: refund of ${amount} to ${toChecksumAddress(to)} for ${what} refused: ${(err as Error).message}`);
      }
    };
    const next = this.refunds.then(run);
    this.refunds = next;
    return next;
  }

  /** The node's embedding and head for a room's model. */
  embedHeadFor(room: InferenceRoom): Promise<EmbedHead> {
    return room.compute.embedHead();
  }

  /** Signs and submits each reward; a ledger refusal is logged, never thrown (the answer was already given). */
  async pay(owed: OwedReward[]): Promise<void> {
    const share = this.ledger.chain.spec.rewards.inferenceShare;
    for (const o of owed) {
      try {
        const unsigned: Omit<InferenceRewardTx, 'signature'> = {
          type: 'inference_reward',
          coordinator: this.coordinator,
          node: parseAddress(o.wallet),
          requestId: o.request,
          spanStart: o.span.start,
          spanEnd: o.span.end,
          shares: 1n,
          reward: share,
        };
        const tx = signTx(unsigned, this.key, this.ledger.network);
        await retrying(() => this.ledger.submit(tx));
        this.log(`inference: ${o.wallet} earns ${share} for request ${o.request.slice(0, 10)} (layers ${o.span.start}..${o.span.end - 1})`);
      } catch (err) {
        this.log(`inference: reward for ${o.wallet} on ${o.request.slice(0, 10)} refused: ${(err as Error).message}`);
      }
    }
  }

  /** Logs an unexpected failure of a request (the user was told only that it failed). */
  logError(line: string): void {
    this.log(line);
  }

  /** Marks a request running on the current room until the returned function is called. */
  markRunning(session: string): () => void {
    this.sessions.add(session);
    return () => this.sessions.delete(session);
  }

  /**
   * Stops the rooms. Every member's escrow is settled first (its kept request checked, its rewards paid into the
   * pool, which the node journals for its next start), so a restart costs no honest contributor what it earned; then
   * the channels close (NODE_STOPPING).
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    // From here a request waiting for its fee's block gives up (its fee is taken out of the pool below).
    this.stopped = true;
    const rooms = [this.room, ...[...this.imported.values()].map((i) => i.room)].filter((r): r is InferenceRoom => !!r);
    for (const room of rooms) {
      try {
        await this.pay(await room.settleAll(room.list(), true));
      } catch (err) {
        this.log(`inference: settling the escrows of ${room.model.id} at stop failed: ${(err as Error).message}`);
      }
    }
    // The requests in flight end (their contributors are gone: nobody is paid) and refund their fees.
    for (const room of rooms) room.close();
    const end = Date.now() + STOP_DRAIN_MS;
    while (this.sessions.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    // Fees of requests that never ran leave the pool, so the journal does not charge them after the restart.
    // Fees whose request never ran leave the pool, so the journal does not charge them after the restart; a peer that
    // heard of one may still seal it, so they are kept for the next start to watch and refund.
    for (const fee of this.unconfirmed.values()) this.ledger.drop(fee.hash as Hash, 'the node stopped before its chat request ran');
    if (this.feeWatchPath && this.unconfirmed.size > 0) {
      mkdirSync(dirname(this.feeWatchPath), { recursive: true });
      writeFileAtomic.sync(
        this.feeWatchPath,
        JSON.stringify([...this.unconfirmed.values()].map((e) => ({ hash: e.hash, to: e.to, amount: e.amount.toString() }))),
      );
    }
    this.unconfirmed.clear();
    await this.refunds;
    for (const i of this.imported.values()) (i.room.compute as NodeCompute).dispose();
    clearInterval(this.heartbeat);
    for (const ws of this.wss?.clients ?? []) ws.terminate();
    this.wss?.close();
    (this.room?.compute as NodeCompute | undefined)?.dispose();
  }
}

/** The node's own sessions over one room's weights: its embedding and head, and a span runner per checked span. */
class NodeCompute implements RoomCompute {
  private head: Promise<EmbedHead> | undefined;
  private readonly runners = new Map<string, Promise<SpanRunner>>();

  constructor(private readonly model: RoomModel) {}

  embedHead(): Promise<EmbedHead> {
    return (this.head ??= EmbedHead.open(nodeRuntime('cpu'), this.model.cfg, this.model.weights));
  }

  spanRunner(span: Span): Promise<SpanRunner> {
    const key = `${span.start}-${span.end}`;
    let r = this.runners.get(key);
    if (!r) this.runners.set(key, (r = SpanRunner.open(nodeRuntime('cpu'), this.model.cfg, span, this.model.weights)));
    return r;
  }

  dispose(): void {
    for (const r of this.runners.values()) void r.then((x) => x.dispose()).catch(() => {});
    void this.head?.then((x) => x.dispose()).catch(() => {});
  }
}

/** A config's short description: the preset it equals, else its shape. */
function configLabel(cfg: ModelConfig): string {
  return `gpt2 ${cfg.n_layer} layers, d=${cfg.n_embd}, ${cfg.n_head} heads`;
}
