/**
 * Distributed inference (browser-safe wire types), in the manner of Petals (Borzunov et al. 2023, "Petals:
 * Collaborative Inference and Fine-tuning of Large Models"): contributors each hold a *span* of consecutive
 * transformer blocks of one model and that span's KV cache per conversation; the node embeds the tokens, relays the
 * hidden states span to span over one WebSocket per contributor (browsers cannot accept connections), applies the
 * final LayerNorm and the tied head, samples, and streams tokens to the user.
 *
 * Room channel: `GET /api/inference/room` upgraded to a WebSocket. Text frames carry JSON `RoomMessage`s; hidden
 * states travel in binary frames (`encodeHiddenFrame`): a 4-byte little-endian header length, the header as UTF-8
 * JSON, zero padding to a multiple of 4, then float32 little-endian values [T, n_embd].
 */
import type { TransferBody } from './ledger.js';

/** A model the network's rooms serve: GET /api/inference/models lists them. */
export interface InferenceModel {
  /** `ailo` (the network's own model at its latest version) or the name an operator imported a checkpoint under. */
  id: string;
  /** Human name and where it comes from. */
  name: string;
  /** The network model's version (absent for imported checkpoints). */
  version?: number;
  /** Config name and size: layers, width, parameters. */
  config: string;
  layers: number;
  nEmbd: number;
  params: number;
  /** Context length in tokens. */
  contextTokens: number;
  /** Bytes of one layer's float32 parameters: with its KV cache, what a contributor needs per layer it holds. */
  layerBytes: number;
  /** Whether every layer is held by a ready contributor now: a request can be served. */
  servable: boolean;
  /** Ready contributors, and the spans [start, end) they hold. */
  contributors: number;
  spans: { start: number; end: number }[];
  /**
   * What a request costs now, in ALC base units (decimal string): genesis `inferenceShare` for each span that will
   * serve it (at most the room's `maxSpans`). The requester signs a transfer of at least this much to `feeTo` with
   * each request (`ChatRequestBody.fee`).
   */
  requestFee: string;
  /** What each paid contributor earns for a request it served (genesis `inferenceShare`, base units). */
  inferenceShare: string;
  /**
   * Who a request's fee pays: the coordinator that runs the room and signs its `inference_reward`s. A fee names one
   * coordinator, so one signed fee buys one request on one node. A request pays at most `fee / inferenceShare`
   * contributors, so an account that serves its own requests (under any wallet) gets back at most what it paid:
   * self-dealing nets nothing.
   */
  feeTo: string;
}

/** POST /api/inference/chat body (logged-in account: the node's account session). The answer streams as SSE. */
export interface ChatRequestBody {
  model: string;
  /** The conversation so far as plain text; the node tokenizes it with the GPT-2 BPE. */
  prompt: string;
  /** 0: greedy. */
  temperature?: number;
  /** 0: no cut. */
  topK?: number;
  maxTokens?: number;
  seed?: number;
  /**
   * The request's fee: a transfer signed by the logged-in account to the model's `feeTo` of at least its
   * `requestFee`, with the account's next nonce (`pendingNonce`). The node checks it, submits it and waits for it to
   * be in a block before the room computes anything; at the end the coordinator refunds what no contributor earned.
   */
  fee: TransferBody;
}

/** The largest text frame a room channel takes (a join with its signature fits many times over). */
export const MAX_TEXT_FRAME_BYTES = 16 * 1024;

/** The largest binary frame for a model: a whole context of hidden states plus the header. */
export function maxHiddenFrameBytes(nPositions: number, nEmbd: number): number {
  return nPositions * nEmbd * 4 + 4 + 1024 + 4;
}

/** Limits the node applies to a chat request (named 4xx beyond them). */
export const CHAT_LIMITS = { maxPromptChars: 8_000, maxTokens: 256, maxTemperature: 2, maxTopK: 1_000 } as const;
export const CHAT_DEFAULTS = { temperature: 0.8, topK: 40, maxTokens: 64 } as const;

/**
 * Server-sent events of a chat answer: `start` (request digest, model, version), one `token` per sampled token
 * (its id and the text it adds), `notice` (a span moved to another contributor, and so on), then `done` (how many
 * tokens, the contributors that will be paid) or `error` (a code and a message).
 */
export type ChatEvent =
  /** fee: what the request was charged (base units), on the ledger before the room ran; feeTx: that transfer's hash. */
  | { type: 'start'; request: string; model: string; version?: number; promptTokens: number; fee: string; feeTx: string }
  | { type: 'token'; id: number; text: string }
  | { type: 'notice'; message: string }
  /**
   * checked: this request's rows were recomputed by the node; caught: contributors whose rows were wrong (removed,
   * unpaid); refund: the part of the fee paid back (base units: the slots no contributor earned).
   */
  | { type: 'done'; tokens: number; contributors: number; checked: boolean; caught: number; refund: string }
  | { type: 'error'; code: string; message: string };

/** The signed join a contributor sends first (EIP-712 `InferenceJoin`, chain/tx/task-request.ts). */
export interface SignedJoinBody {
  wallet: string;
  coordinator: string;
  issuedAt: string;
  nonce: string;
  signature: string;
}

/** Contributor -> node, text frames. */
export type ContributorMessage =
  /** First message: which model's room, how many layers this contributor can hold (its memory), and the signed join. */
  | { type: 'join'; model: string; maxLayers: number; join: SignedJoinBody; agent?: string }
  /** The span's weights are loaded: the contributor can serve. `assignment`: the assign message it answers. */
  | { type: 'ready'; assignment?: number }
  /** Could not load or serve; the node frees the span. */
  | { type: 'error'; message: string };

/** Node -> contributor, text frames. */
export type NodeMessage =
  /**
   * Hold layers [start, end) of `model` at `version` (GET /api/model?version=N names the chunks; an imported model's
   * manifest is GET /api/inference/models/:id/manifest). `assignment` counts this contributor's assignments; its
   * `ready` names it, so a ready for an earlier span or version is not taken for this one.
   */
  | { type: 'assign'; assignment: number; model: string; version?: number; start: number; end: number; contributorId: string }
  /** A conversation ended: drop its KV cache. */
  | { type: 'drop'; session: string }
  /** Why the node closes the channel (a named code: WRONG_OUTPUT, BAD_JOIN, ...). */
  | { type: 'closing'; code: string; message: string };

/**
 * Header of a binary frame. Node -> contributor `forward`: run the span on `T` new positions starting at `start`
 * (start 0: a new window, the session's cache is reset), keeping the cache under `session`. Contributor -> node
 * `result`: the span's output for the same `id`.
 */
export interface HiddenHeader {
  kind: 'forward' | 'result';
  /** Per-channel step id: a result names the forward it answers. */
  id: number;
  session: string;
  start: number;
  /** Rows (positions) in the payload; the payload holds rows x n_embd float32 values. */
  rows: number;
}

/** Closing codes of the room channel (WebSocket close reason and `closing.code`). */
export const ROOM_CLOSE_CODES = [
  'BAD_JOIN',
  'UNKNOWN_MODEL',
  'ROOM_FULL',
  'BAD_FRAME',
  'WRONG_OUTPUT',
  'TIMEOUT',
  'CONTRIBUTOR_ERROR',
  'NODE_STOPPING',
  /** A newer join signed by the same wallet took this channel's place (a wallet holds one place per room). */
  'REPLACED',
] as const;

/** A binary frame: header length (u32 LE), header JSON, zero padding to 4 bytes, float32 LE payload. */
export function encodeHiddenFrame(header: HiddenHeader, values: Float32Array): Uint8Array {
  const head = new TextEncoder().encode(JSON.stringify(header));
  const offset = 4 + Math.ceil(head.length / 4) * 4;
  const out = new Uint8Array(offset + values.byteLength);
  new DataView(out.buffer).setUint32(0, head.length, true);
  out.set(head, 4);
  out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), offset);
  return out;
}

/** Reads a binary frame; throws a RangeError naming what is wrong (a peer's frame is untrusted input). */
export function decodeHiddenFrame(frame: Uint8Array, nEmbd: number, maxRows: number): { header: HiddenHeader; values: Float32Array } {
  if (frame.length < 4) throw new RangeError('frame shorter than its 4-byte header length');
  const len = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0, true);
  if (len > 1024 || 4 + len > frame.length) throw new RangeError(`header length ${len} does not fit the frame`);
  let header: HiddenHeader;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(frame.subarray(4, 4 + len))) as HiddenHeader;
  } catch {
    throw new RangeError('the frame header is not UTF-8 JSON');
  }
  const h = header as unknown as Record<string, unknown>;
  if (h.kind !== 'forward' && h.kind !== 'result') throw new RangeError('header.kind must be forward or result');
  for (const k of ['id', 'start', 'rows'] as const) {
    if (!Number.isSafeInteger(h[k]) || (h[k] as number) < 0) throw new RangeError(`header.${k} must be a non-negative integer`);
  }
  if (typeof h.session !== 'string' || h.session.length === 0 || h.session.length > 80)
    throw new RangeError('header.session must be a short string');
  if (header.rows < 1 || header.rows > maxRows) throw new RangeError(`header.rows ${header.rows} is outside 1..${maxRows}`);
  const offset = 4 + Math.ceil(len / 4) * 4;
  const bytes = frame.length - offset;
  if (bytes !== header.rows * nEmbd * 4)
    throw new RangeError(`payload of ${bytes} bytes is not rows x n_embd (${header.rows} x ${nEmbd}) float32`);
  // Copied: the frame's buffer may be pooled or unaligned.
  const values = new Float32Array(header.rows * nEmbd);
  new Uint8Array(values.buffer).set(frame.subarray(offset));
  return { header, values };
}

/**
 * Memory a contributor needs per layer it holds: the layer's float32 parameters plus a full-context KV cache
 * (keys and values, float32) for each of `sessions` conversations it keeps (SpanRunner's maxSessions, 16).
 */
export function bytesPerServedLayer(model: Pick<InferenceModel, 'layerBytes' | 'contextTokens' | 'nEmbd'>, sessions = 16): number {
  return model.layerBytes + sessions * 2 * model.contextTokens * model.nEmbd * 4;
}
