/**
 * Chat with the network's model from the wallet: POST /api/inference/chat with the session's bearer token, the answer
 * read as server-sent events from the fetch body (protocol/inference.ts `ChatEvent`). A refusal before the stream
 * starts is a `NodeError` with the node's code; `chatProblem` says in words what it means and what to do.
 */
import { NO_RETRY, NodeClient } from '../../../protocol/client.js';
import { NodeError, nodeErrorOf } from '../../../protocol/errors.js';
import type { ChatEvent, ChatRequestBody } from '../../../protocol/inference.js';
import { readSse, type SseMessage } from './sse.js';

export interface StreamChatOptions {
  /** The account session's token (POST /api/inference/chat needs a logged-in account). */
  token: string;
  /** The node's URL; '' (default) for the node that serves the page. */
  baseUrl?: string;
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

const EVENT_TYPES = new Set(['start', 'token', 'notice', 'done', 'error']);

/** A chat event from one SSE message, or undefined for an event this client does not know (a newer node's). */
export function parseChatEvent(m: SseMessage): ChatEvent | undefined {
  if (!EVENT_TYPES.has(m.event)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(m.data);
  } catch {
    return undefined;
  }
  const e = value as Partial<ChatEvent> | null;
  if (typeof e !== 'object' || e === null || e.type !== m.event) return undefined;
  if (e.type === 'token' && (typeof e.text !== 'string' || typeof e.id !== 'number')) return undefined;
  if ((e.type === 'notice' || e.type === 'error') && typeof e.message !== 'string') return undefined;
  return e as ChatEvent;
}

/**
 * The events of one chat answer, as they arrive. NodeError: the node refused before the answer began (its status and
 * code: NO_ROOM, UNKNOWN_MODEL, PROMPT_TOO_LONG, CHAT_RATE_LIMITED, CHAT_BUSY, FEE_TOO_LOW, FEE_REFUSED, 401 ...), did not answer
 * (UNREACHABLE), or the caller aborted (ABORTED).
 */
export async function* streamChat(body: ChatRequestBody, o: StreamChatOptions): AsyncGenerator<ChatEvent> {
  const client = new NodeClient(o.baseUrl ?? '', { retry: NO_RETRY, ...(o.fetch ? { fetch: o.fetch } : {}) });
  // 503 NO_ROOM is the node's verdict, not a gateway's: it is read here rather than retried.
  const res = await client.request(
    '/api/inference/chat',
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${o.token}` },
      body: JSON.stringify(body),
      cache: 'no-store',
      signal: o.signal,
    },
    { what: 'chat', transientAsAnswer: true },
  );
  if (!res.ok) throw await nodeErrorOf(res, 'chat');
  if (!res.body || !res.headers.get('content-type')?.startsWith('text/event-stream'))
    throw new NodeError(res.status, 'BAD_RESPONSE', 'the node did not answer with an event stream');
  try {
    for await (const m of readSse(res.body)) {
      const e = parseChatEvent(m);
      if (e) yield e;
    }
  } catch (err) {
    if (o.signal?.aborted) throw new NodeError(0, 'ABORTED', 'chat: stopped', undefined, { cause: err });
    throw new NodeError(0, 'UNREACHABLE', 'the answer stopped arriving: the connection to the node was lost', undefined, { cause: err });
  }
}

/** What a refused or failed chat request means for the user, and what to do. `message` is the node's own. */
export function chatProblem(code: string, message: string, status = 0): string {
  switch (code) {
    case 'NO_ROOM':
      return (
        `${capitalize(message.replace(/\.$/, ''))}. Every layer of the model must be held by a contributor before it can answer; ` +
        'you can be one from this page: turn on "Serve this model from this browser" below.'
      );
    case 'ROOM_LOST':
      return `The answer stopped because the room lost a span and no one took it over in time (${message}). Try again once the room is servable.`;
    case 'UNKNOWN_MODEL':
      return 'The node no longer serves this model. The list of models was refreshed; pick one and send again.';
    case 'PROMPT_TOO_LONG':
      return `The conversation is too long for one request (${message}). Clear the conversation, or send a shorter message.`;
    case 'CHAT_RATE_LIMITED':
      return `You have sent as many messages as the node allows in a minute (${message}). Wait a little, then send again.`;
    case 'CHAT_BUSY':
      return `The node is busy answering (${message}). Try again in a few seconds.`;
    case 'FEE_TOO_LOW':
      return `The price of an answer changed while you sent it (${message}). Send again.`;
    case 'FEE_REFUSED':
      return `The ledger refused this answer's fee (${message}). If you just sent ALC from another page, wait for it to confirm, then send again.`;
    case 'FEE_NOT_CONFIRMED':
      return `This answer's fee did not reach the ledger, so nothing was run (${message}). Send again.`;
    case 'FEE_WRONG':
    case 'FEE_REQUIRED':
      return `The fee sent with the request was not one this node takes (${message}). Reload the page and send again.`;
    case 'BAD_PROMPT':
    case 'BAD_REQUEST':
      return `The node refused the request: ${message}`;
    case 'UNREACHABLE':
      return 'The node did not answer. Check that it is running, then send again.';
    case 'ABORTED':
      return 'Stopped.';
    default:
      if (status === 401) return 'Your session has ended. Log out and log in again to chat.';
      return `The request failed (${code}): ${message}`;
  }
}

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
