import { describe, expect, it } from 'vitest';
import { NodeError } from '../../../protocol/errors.js';
import type { ChatEvent } from '../../../protocol/inference.js';
import { chatProblem, parseChatEvent, streamChat } from './chat-client.js';
import { chatFee } from './chat-fee.js';

const NETWORK = { chainId: 1337n, genesisHash: `0x${'ab'.repeat(32)}` as const };
const KEY = new Uint8Array(32).fill(7);
const FEE = chatFee({ requestFee: '150000000000000000', feeTo: `0x${'c0'.repeat(20)}` }, KEY, NETWORK, 0n);
const BODY = { model: 'ailo', prompt: 'User: hi\nAilo:', temperature: 0, topK: 0, maxTokens: 2, fee: FEE };

/** A fetch that records its calls and answers `res`. */
function fakeFetch(res: () => Response): { fetch: typeof fetch; calls: { url: string; init: RequestInit }[] } {
  const calls: { url: string; init: RequestInit }[] = [];
  return {
    calls,
    fetch: (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return res();
    }) as unknown as typeof fetch,
  };
}

const sse = (events: string): Response =>
  new Response(new TextEncoder().encode(events), { status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8' } });
const refusal = (status: number, code: string, message: string): Response =>
  new Response(JSON.stringify({ error: { code, message } }), { status, headers: { 'content-type': 'application/json' } });

async function collect(gen: AsyncGenerator<ChatEvent>): Promise<ChatEvent[]> {
  const out: ChatEvent[] = [];
  for await (const e of gen) out.push(e);
  return out;
}

describe('chat client', () => {
  it('posts the body with the bearer token and yields the events of the stream, skipping unknown ones', async () => {
    const stream =
      'event: start\ndata: {"type":"start","request":"0x1","model":"ailo","version":3,"promptTokens":5}\n\n' +
      'event: token\ndata: {"type":"token","id":11,"text":" a"}\n\n' +
      'event: progress\ndata: {"type":"progress"}\n\n' +
      'event: notice\ndata: {"type":"notice","message":"a contributor left"}\n\n' +
      'event: token\ndata: {"type":"token","id":12,"text":"b"}\n\n' +
      'event: done\ndata: {"type":"done","tokens":2,"contributors":3,"checked":true}\n\n';
    const f = fakeFetch(() => sse(stream));
    const events = await collect(streamChat(BODY, { token: 'tok', baseUrl: 'http://node', fetch: f.fetch }));
    expect(events.map((e) => e.type)).toEqual(['start', 'token', 'notice', 'token', 'done']);
    expect(
      events
        .filter((e) => e.type === 'token')
        .map((e) => (e as { text: string }).text)
        .join(''),
    ).toBe(' ab');
    expect(f.calls).toHaveLength(1);
    expect(f.calls[0]!.url).toBe('http://node/api/inference/chat');
    expect(f.calls[0]!.init.method).toBe('POST');
    expect((f.calls[0]!.init.headers as Record<string, string>).authorization).toBe('Bearer tok');
    expect(JSON.parse(String(f.calls[0]!.init.body))).toEqual(BODY);
  });

  it('turns a refusal before the stream into a NodeError with its code, once (503 NO_ROOM is not retried)', async () => {
    for (const [status, code] of [
      [503, 'NO_ROOM'],
      [404, 'UNKNOWN_MODEL'],
      [413, 'PROMPT_TOO_LONG'],
      [429, 'CHAT_RATE_LIMITED'],
      [401, 'SESSION_EXPIRED'],
    ] as const) {
      const f = fakeFetch(() => refusal(status, code, `because ${code}`));
      const err = await collect(streamChat(BODY, { token: 't', fetch: f.fetch })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NodeError);
      expect([(err as NodeError).status, (err as NodeError).code, (err as NodeError).message]).toEqual([status, code, `because ${code}`]);
      expect(f.calls).toHaveLength(1);
    }
  });

  it('says UNREACHABLE when the stream is cut, ABORTED when the caller stopped', async () => {
    // The first read gets one event; the next one fails, as a dropped connection does.
    const cut = (): Response => {
      let reads = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (reads++ === 0) c.enqueue(new TextEncoder().encode('event: token\ndata: {"type":"token","id":1,"text":"x"}\n\n'));
          else c.error(new TypeError('network error'));
        },
      });
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    };
    const got: ChatEvent[] = [];
    const err = await (async () => {
      for await (const e of streamChat(BODY, { token: 't', fetch: fakeFetch(cut).fetch })) got.push(e);
    })().catch((e: unknown) => e);
    expect(got).toHaveLength(1);
    expect((err as NodeError).code).toBe('UNREACHABLE');

    const stop = new AbortController();
    stop.abort();
    const aborted = await collect(streamChat(BODY, { token: 't', signal: stop.signal, fetch: fakeFetch(cut).fetch })).catch(
      (e: unknown) => e,
    );
    expect((aborted as NodeError).code).toBe('ABORTED');
  });

  it('refuses events whose data does not match their type', () => {
    expect(parseChatEvent({ event: 'token', data: '{"type":"token","id":1,"text":"a"}' })).toEqual({ type: 'token', id: 1, text: 'a' });
    expect(parseChatEvent({ event: 'token', data: '{"type":"done"}' })).toBeUndefined();
    expect(parseChatEvent({ event: 'token', data: '{"type":"token","id":"1","text":"a"}' })).toBeUndefined();
    expect(parseChatEvent({ event: 'notice', data: 'not json' })).toBeUndefined();
    expect(parseChatEvent({ event: 'message', data: '{"type":"message"}' })).toBeUndefined();
  });

  it('says what each refusal means and what to do', () => {
    expect(chatProblem('NO_ROOM', 'no room can serve ailo now: layer 2 of 6 has no contributor.')).toBe(
      'No room can serve ailo now: layer 2 of 6 has no contributor. Every layer of the model must be held by a contributor before it ' +
        'can answer; you can be one from this page: turn on "Serve this model from this browser" below.',
    );
    expect(chatProblem('PROMPT_TOO_LONG', 'x')).toMatch(/Clear the conversation/);
    expect(chatProblem('CHAT_RATE_LIMITED', 'x')).toMatch(/Wait a little/);
    expect(chatProblem('SESSION_EXPIRED', 'x', 401)).toMatch(/log in again/);
    expect(chatProblem('SOMETHING_NEW', 'the node says so')).toBe('The request failed (SOMETHING_NEW): the node says so');
  });
});
