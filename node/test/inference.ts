/**
 * Test helpers for inference rooms: a native contributor on a test network, a chat read as its SSE events, and rooms
 * with members computing in process (no node, no WebSockets) for the room's own logic.
 */
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { signInferenceJoin } from '../../chain/tx/task-request.js';
import type { NetworkDomain } from '../../chain/tx/eip712.js';
import { parseAddress } from '../../protocol/address.js';
import { decodeHiddenFrame, type ChatEvent, type InferenceModel, type NodeMessage } from '../../protocol/inference.js';
import type { TransferBody } from '../../protocol/ledger.js';
import { privateKeyToAddress } from '../../protocol/signature.js';
import { signTransfer } from '../../chain/tx/sign.js';
import { networkDomainOf } from '../../wallet-ui/src/api/network.js';
import { chatFee } from '../../wallet-ui/src/chat/chat-fee.js';
import { NodeApi } from '../../wallet-ui/src/api/node-api.js';
import { registerAccount } from '../../wallet-ui/src/account/account-session.js';
import { RoomContributor, type ContributorOptions } from '../../trainer/inference/contributor.js';
import { ChunkCache } from '../../trainer/miner/chunk-cache.js';
import { nodeRuntime } from '../../trainer/runtime/model-session.js';
import { EmbedHead, SpanRunner, type Span } from '../../trainer/inference/span-runner.js';
import type { ModelConfig } from '../../trainer/model/config.js';
import type { Weights } from '../../trainer/model/weights.js';
import { waitFor } from './harness.js';
import { DEFAULT_ROOM_OPTIONS, InferenceRoom, Member, type RoomOptions } from '../inference/room.js';

/**
 * A contributor on onnxruntime-node's cpu provider with the `ws` WebSocket, signing its joins with `key` for
 * `network`, its chunks cached under `cacheDir/<name>`. `Kind` lets an attacker test alter what it answers.
 */
export function nativeContributor(
  o: { nodeUrl: string; network: NetworkDomain; key: Uint8Array; maxLayers: number; cacheDir: string; name: string; model?: string },
  Kind: new (opts: ContributorOptions) => RoomContributor = RoomContributor,
): RoomContributor {
  return new Kind({
    nodeUrl: o.nodeUrl,
    model: o.model ?? 'ailo',
    maxLayers: o.maxLayers,
    signJoin: async (coordinator) => signInferenceJoin(o.key, o.network, parseAddress(coordinator)),
    runtime: nodeRuntime('cpu'),
    chunks: new ChunkCache(join(o.cacheDir, o.name)),
    webSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    agent: 'test',
  });
}

/** Who chats: the account session's token, and the wallet key that signs each request's fee. */
export interface Chatter {
  token: string;
  key: Uint8Array;
  /** The account's wallet address. */
  address: string;
}

/**
 * A new account `username` on the node (a cheap KDF, for tests), funded with `amount` base units from `from` (a funded
 * test wallet, e.g. harness `alice`) once that transfer is in a block; `importKey` makes it the account of that key.
 */
export async function fundedChatter(
  nodeUrl: string,
  network: NetworkDomain,
  from: { key: Uint8Array },
  username: string,
  amount: bigint,
  importKey?: Uint8Array,
): Promise<Chatter> {
  const reg = await registerAccount(new NodeApi(nodeUrl), {
    username,
    password: 'correct horse',
    kdfCost: { N: 2 ** 15, r: 8, p: 1 },
    ...(importKey ? { importKey } : {}),
  });
  const who = { token: reg.session.token, key: reg.session.signingKey(), address: reg.session.address };
  if (amount > 0n) await fund(nodeUrl, network, from, who.address, amount);
  return who;
}

/**
 * POST /api/inference/chat as `who`; the SSE answer's events, or the refusal's JSON. Unless `body` brings its own
 * `fee` (an attack test's), the request carries the fee as the Chat page signs it: the model's `requestFee` to its
 * `feeTo`, at the account's `pendingNonce`.
 */
export async function chatEvents(
  nodeUrl: string,
  who: Chatter,
  body: Record<string, unknown>,
): Promise<{ status: number; events: ChatEvent[]; json?: { error?: { code: string; message: string } } }> {
  const withFee = 'fee' in body ? body : { ...body, fee: await quotedFee(nodeUrl, who.key, String(body.model)) };
  const res = await fetch(`${nodeUrl}/api/inference/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${who.token}` },
    body: JSON.stringify(withFee),
  });
  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) return { status: res.status, events: [], json: await res.json() };
  const events = (await res.text())
    .split('\n\n')
    .filter((b) => b.includes('data: '))
    .map((b) => JSON.parse(b.slice(b.indexOf('data: ') + 6)) as ChatEvent);
  return { status: res.status, events };
}

/** The fee of a request to `model` (or the first model, for an unknown id) as the node quotes it now, signed with `key`. */
export async function quotedFee(nodeUrl: string, key: Uint8Array, model: string): Promise<TransferBody> {
  const json = async (path: string) => (await fetch(`${nodeUrl}${path}`)).json();
  const { models } = (await json('/api/inference/models')) as { models: InferenceModel[] };
  const quote = models.find((m) => m.id === model) ?? models[0]!;
  const status = await json('/api/status');
  const account = await json(`/api/ledger/account/${privateKeyToAddress(key)}`);
  const network = networkDomainOf(status.chainId, status.genesisHash)!;
  return chatFee(quote, key, network, BigInt(account.pendingNonce));
}

/** Sends `amount` base units from `from` (a funded test wallet, e.g. harness `alice`) to `to`; resolves once it is in a block. */
export async function fund(nodeUrl: string, network: NetworkDomain, from: { key: Uint8Array }, to: string, amount: bigint): Promise<void> {
  const sender = privateKeyToAddress(from.key);
  const account = await (await fetch(`${nodeUrl}/api/ledger/account/${sender}`)).json();
  const body = signTransfer({ from: sender, to: parseAddress(to), amount, nonce: BigInt(account.pendingNonce) }, from.key, network);
  const res = await fetch(`${nodeUrl}/api/ledger/transfer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const { hash } = (await res.json()) as { hash: string };
  if (res.status !== 202) throw new Error(`funding ${to} refused: ${res.status}`);
  for (let i = 0; i < 600; i++) {
    if (((await (await fetch(`${nodeUrl}/api/ledger/tx/${hash}`)).json()) as { status?: string }).status === 'confirmed') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`funding transfer ${hash} not in a block after 30 s`);
}

/** Resolves once model `index` of GET /api/inference/models (0: the network's) is servable, or not (`servable` false). */
export function untilServable(nodeUrl: string, o: { index?: number; servable?: boolean; ms?: number } = {}): Promise<true> {
  return waitFor(
    `model ${o.index ?? 0} ${o.servable === false ? 'not ' : ''}servable`,
    async () => {
      const models = ((await (await fetch(`${nodeUrl}/api/inference/models`)).json()) as { models: InferenceModel[] }).models;
      return models[o.index ?? 0]?.servable === (o.servable ?? true) ? true : undefined;
    },
    o.ms ?? 60_000,
  );
}

/** Stops `c` once it has answered `passes` more forward passes than now (a holder leaving mid-answer); returns the cancel. */
export function stopAfter(c: RoomContributor, passes: number): () => void {
  const target = c.state.served + passes;
  const timer = setInterval(() => {
    if (c.state.served >= target) {
      clearInterval(timer);
      c.stop();
    }
  }, 5);
  return () => clearInterval(timer);
}

/** The token ids of a chat's events. */
export const tokenIds = (events: ChatEvent[]): number[] => events.flatMap((e) => (e.type === 'token' ? [e.id] : []));

/** Rewrites a span's honest rows (a cheating contributor): its output, the forward's header and its span. */
export type RowAlter = (
  out: Float32Array,
  header: { session: string; start: number; rows: number },
  span: Span,
) => Promise<Float32Array> | Float32Array;

/**
 * A room member that computes in process with its own SpanRunner over `weights` (no WebSocket): it loads its span
 * when assigned, says ready, and answers each forward frame; `alter` rewrites its rows, `seen` records its inputs.
 */
export function inProcessMember(o: {
  id: string;
  wallet: string;
  maxLayers: number;
  cfg: ModelConfig;
  weights: Weights;
  room: () => InferenceRoom;
  alter?: RowAlter;
  seen?: Float32Array[];
}): Member {
  const rt = nodeRuntime('cpu');
  let runner: Promise<SpanRunner> | undefined;
  let span: Span | undefined;
  const m: Member = new Member(
    o.id,
    o.wallet,
    o.maxLayers,
    {
      sendJson: (msg: NodeMessage) => {
        if (msg.type !== 'assign') return;
        span = { start: msg.start, end: msg.end };
        runner = SpanRunner.open(rt, o.cfg, span, o.weights);
        void runner.then(() => o.room().ready(m, msg.assignment));
      },
      sendBinary: (frame) => {
        void runner!.then(async (r) => {
          const { header, values } = decodeHiddenFrame(frame, o.cfg.n_embd, o.cfg.n_positions);
          o.seen?.push(values.slice());
          let out = await r.forward(header.session, values, header.start);
          if (o.alter) out = await o.alter(out, header, span!);
          m.answer({ ...header, kind: 'result' }, out);
        });
      },
      close: () => {},
    },
    'test',
  );
  return m;
}

/** A room of model `ailo` v0 over `weights`, with the node's compute in process (a span runner per checked span). */
export function inProcessRoom(cfg: ModelConfig, weights: Weights, opts: Partial<RoomOptions> = {}, log: string[] = []): InferenceRoom {
  const rt = nodeRuntime('cpu');
  const runners = new Map<string, Promise<SpanRunner>>();
  return new InferenceRoom(
    { id: 'ailo', name: 't', version: 0, configName: 't', cfg, weights },
    {
      embedHead: () => EmbedHead.open(rt, cfg, weights),
      spanRunner: (s: Span) => {
        const k = `${s.start}-${s.end}`;
        if (!runners.has(k)) runners.set(k, SpanRunner.open(rt, cfg, s, weights));
        return runners.get(k)!;
      },
    },
    { ...DEFAULT_ROOM_OPTIONS, random: Math.random, log: (l) => log.push(l), ...opts },
  );
}

/** A raw room channel (the `ws` WebSocket), opened; `said` collects what the node sends, `closed` its close. */
export async function rawChannel(
  nodeUrl: string,
  o: { autoPong?: boolean } = {},
): Promise<{ ws: WebSocket; said: any[]; closed: Promise<{ code: number; reason: string }> }> {
  // autoPong false: a peer whose connection died without a close (it answers no ping).
  const ws = new WebSocket(`${nodeUrl.replace(/^http/, 'ws')}/api/inference/room`, { autoPong: o.autoPong ?? true });
  const said: any[] = [];
  ws.on('message', (d, binary) => said.push(binary ? { binary: true } : JSON.parse(d.toString())));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.on('open', () => resolve());
    ws.on('error', reject);
  });
  return { ws, said, closed };
}
