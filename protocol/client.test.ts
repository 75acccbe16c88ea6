/** The one client's retry policy, single-use bodies, stops and errors (issue 16: two clients had drifted apart). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backoffMs, NodeClient, type RetryEvent, type RetryPolicy } from './client.js';
import { AiloError, NodeError } from './errors.js';

const POLICY: RetryPolicy = { attempts: 4, baseMs: 500, maxMs: 1_500 };

/**
 * A fetch that plays `script` (a status answered by the node, 'throw' for a network error, or 'gateway N' for a
 * proxy's page of status N), one entry per call.
 */
function scripted(script: (number | 'throw' | `gateway ${number}`)[]): { fetch: typeof fetch; calls: () => number } {
  let i = 0;
  const fake = (async () => {
    const step = script[Math.min(i++, script.length - 1)]!;
    if (step === 'throw') throw new TypeError('Failed to fetch');
    if (typeof step === 'string') return new Response('<html>Bad Gateway</html>', { status: Number(step.split(' ')[1]) });
    return new Response(JSON.stringify(step >= 400 ? { error: { code: `CODE_${step}`, message: `refused ${step}` } } : { status: step }), {
      status: step,
      headers: { 'retry-after': '7' },
    });
  }) as typeof fetch;
  return { fetch: fake, calls: () => i };
}

const quiet = { sleep: async () => {} };

describe('NodeClient retries', () => {
  it('retries network errors and 502/503/504 with growing waits, announcing each, until the node answers', async () => {
    const { fetch, calls } = scripted(['throw', 'gateway 502', 503, 200]);
    const waits: number[] = [];
    const events: RetryEvent[] = [];
    const client = new NodeClient('http://node', {
      retry: POLICY,
      fetch,
      random: () => 0.5,
      onRetry: (e) => events.push(e),
      sleep: async (ms) => void waits.push(ms),
    });
    expect(await client.json('/api/task', {}, { what: 'task' })).toEqual({ status: 200 });
    expect(calls()).toBe(4);
    // The third wait is the node's Retry-After (7 s), up to the policy's longest wait (1.5 s here).
    expect(waits).toEqual([500, 1000, 1500]);
    expect(events.map((e) => e.line)).toEqual([
      'node unreachable (Failed to fetch) on task; retry 1 in 0.5 s',
      'node unreachable (HTTP 502) on task; retry 2 in 1.0 s',
      'node busy (CODE_503) on task; retry 3 in 1.5 s',
    ]);
  });

  it('throws the node\'s own 503 after the last attempt, with its code and Retry-After: it answered "not now", it is not unreachable', async () => {
    const { fetch, calls } = scripted([503]);
    const err = (await new NodeClient('http://node', { retry: POLICY, fetch, ...quiet })
      .request('/x')
      .catch((e: unknown) => e)) as NodeError;
    expect(err).toBeInstanceOf(NodeError);
    expect(err).toMatchObject({ status: 503, code: 'CODE_503', message: 'refused 503 (answered so 4 times)', retryAfterSeconds: 7 });
    expect(err.unanswered).toBe(false);
    expect(calls()).toBe(4);
    // Its Retry-After (7 s) is waited for before the next try, within the policy's longest wait.
    const waits: number[] = [];
    const slow = scripted([503, 200]);
    await new NodeClient('http://node', {
      retry: { attempts: 3, baseMs: 500, maxMs: 10_000 },
      fetch: slow.fetch,
      random: () => 0.5,
      sleep: async (ms) => void waits.push(ms),
    }).request('/x');
    expect(waits).toEqual([7000]);
    // A proxy's 503 page names no code: the node itself was not heard from.
    const gateway = scripted(['gateway 503']);
    const down = (await new NodeClient('http://node', { retry: POLICY, fetch: gateway.fetch, ...quiet })
      .request('/x', {}, { what: 'tokens' })
      .catch((e: unknown) => e)) as NodeError;
    expect(down).toMatchObject({ status: 0, code: 'UNREACHABLE', unanswered: true });
    expect(down.message).toMatch(/unreachable \(HTTP 503\) on tokens after 4 attempts/);
  });

  it("returns the node's own answers at once, 429 and 500 included, as NodeErrors with its code and Retry-After", async () => {
    for (const status of [404, 409, 429, 500]) {
      const { fetch, calls } = scripted([status]);
      const err = await new NodeClient('http://node', { retry: POLICY, fetch, ...quiet }).json('/x').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NodeError);
      expect(err).toMatchObject({ status, code: `CODE_${status}`, message: `refused ${status}`, retryAfterSeconds: 7 });
      expect(calls()).toBe(1);
    }
  });

  it("gives up after the policy's attempts with UNREACHABLE, naming the request and the reason, the network error as cause", async () => {
    const { fetch, calls } = scripted(['throw']);
    const err = (await new NodeClient('http://node', { retry: POLICY, fetch, ...quiet })
      .request('/x', {}, { what: 'tokens' })
      .catch((e: unknown) => e)) as NodeError;
    expect(err).toMatchObject({ status: 0, code: 'UNREACHABLE', unanswered: true });
    expect(err.message).toMatch(/unreachable \(Failed to fetch\) on tokens after 4 attempts/);
    expect(err.cause).toBeInstanceOf(TypeError);
    expect(err.walk((e) => e instanceof TypeError)).toBe(err.cause);
    expect(calls()).toBe(4);
  });

  it('returns a 502/503/504 as it came when the call asks for every answer, without retrying it', async () => {
    for (const status of [502, 503, 504]) {
      const { fetch, calls } = scripted([status, 200]);
      const res = await new NodeClient('http://node', { retry: POLICY, fetch, ...quiet }).request('/x', {}, { transientAsAnswer: true });
      expect(res.status).toBe(status);
      expect(calls()).toBe(1);
    }
  });

  it('makes a function init afresh for each attempt, and does not retry when making it fails', async () => {
    const bodies: string[] = [];
    const recording = (async (_url: string, init: RequestInit) => {
      bodies.push(String(init.body));
      return new Response('{}', { status: bodies.length < 3 ? 503 : 201 });
    }) as typeof fetch;
    let n = 0;
    const client = new NodeClient('http://node', { retry: POLICY, fetch: recording, ...quiet });
    const res = await client.request('/api/task', async () => ({ method: 'POST', body: `signed ${++n}` }));
    expect([res.status, bodies]).toEqual([201, ['signed 1', 'signed 2', 'signed 3']]);
    const { fetch, calls } = scripted([201]);
    const err = await new NodeClient('http://node', { retry: POLICY, fetch, ...quiet })
      .request('/api/task', async () => {
        throw new Error('the wallet is locked');
      })
      .catch((e: unknown) => e);
    expect([(err as Error).message, calls()]).toEqual(['the wallet is locked', 0]);
  });

  it('ends with ABORTED, without retrying, when the caller stops (the client signal, a call signal or the init signal)', async () => {
    const abort = new AbortController();
    abort.abort();
    const aborted = (async () => {
      throw new DOMException('aborted', 'AbortError');
    }) as typeof fetch;
    for (const [o, c, init] of [
      [{ signal: abort.signal }, {}, {}],
      [{}, { signal: abort.signal }, {}],
      [{}, {}, { signal: abort.signal }],
    ] as const) {
      const err = await new NodeClient('http://node', { retry: POLICY, fetch: aborted, ...quiet, ...o })
        .request('/x', init, c)
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 0, code: 'ABORTED' });
    }
  });

  it('counts an attempt with no answer within timeoutMs as unanswered: retried, then UNREACHABLE naming the wait', async () => {
    let calls = 0;
    // A node that accepts the connection and never answers: only the attempt's timeout ends the wait.
    const silent = ((_url: string, init: RequestInit) => {
      calls++;
      return new Promise<Response>((_resolve, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason)));
    }) as typeof fetch;
    const client = new NodeClient('http://node', { retry: { attempts: 2, baseMs: 1, maxMs: 1 }, fetch: silent, ...quiet });
    const err = (await client.json('/api/chain/head', {}, { timeoutMs: 50, what: 'head' }).catch((e: unknown) => e)) as NodeError;
    expect(err).toBeInstanceOf(NodeError);
    expect(err.code).toBe('UNREACHABLE');
    expect(err.message).toBe('the node is unreachable (no answer within 0.05 s) on head after 2 attempts');
    expect(calls).toBe(2);
    // The caller's own stop is still a stop, not a timeout.
    const stop = new AbortController();
    const stopped = client.json('/api/chain/head', {}, { timeoutMs: 60_000, signal: stop.signal, what: 'head' }).catch((e: unknown) => e);
    stop.abort();
    expect(((await stopped) as NodeError).code).toBe('ABORTED');
  });

  it('adds the headers the client is given to every request', async () => {
    const seen: Record<string, string>[] = [];
    const recording = (async (_url: string, init: RequestInit) => (
      seen.push(init.headers as Record<string, string>),
      new Response('{}')
    )) as typeof fetch;
    let token = 'a';
    const client = new NodeClient('http://node', { fetch: recording, headers: () => ({ authorization: `Bearer ${token}` }) });
    await client.json('/api/account/me');
    token = 'b';
    await client.postJson('/api/account/logout', {});
    expect(seen).toEqual([{ authorization: 'Bearer a' }, { authorization: 'Bearer b', 'content-type': 'application/json' }]);
  });

  it('spreads waits by 0.75..1.25 and caps them', () => {
    expect(backoffMs(POLICY, 1, 0)).toBe(375);
    expect(backoffMs(POLICY, 1, 1)).toBe(625);
    expect(backoffMs(POLICY, 10, 0.5)).toBe(1500);
  });
});

describe('NodeClient.postJson against a real server', () => {
  let server: Server;
  let url: string;
  const bodies: string[] = [];

  beforeAll(async () => {
    // Busy (503) twice, then a task; a replayed body would be refused.
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const replayed = bodies.includes(body);
        bodies.push(body);
        res.writeHead(replayed ? 409 : bodies.length < 3 ? 503 : 201, { 'content-type': 'application/json' });
        res.end(JSON.stringify(replayed ? { error: { code: 'REPLAYED_TASK_REQUEST', message: 'used' } } : { taskId: body }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('calls a function body once per attempt, so no retry repeats a signed request', async () => {
    const client = new NodeClient(url, { retry: { attempts: 5, baseMs: 1, maxMs: 2 } });
    let n = 0;
    const task = await client.postJson<{ taskId: string }>('/api/task', async () => ({ nonce: ++n }));
    expect(bodies).toEqual(['{"nonce":1}', '{"nonce":2}', '{"nonce":3}']);
    expect(task.taskId).toBe('{"nonce":3}');
    // A plain body is sent as it is, every time.
    await expect(client.postJson('/api/task', { nonce: 3 })).rejects.toMatchObject({ code: 'REPLAYED_TASK_REQUEST', status: 409 });
  });
});

describe('AiloError', () => {
  it('keeps its cause chain, and stops at a cycle', () => {
    const root = new TypeError('socket hang up');
    const mid = new AiloError('MID', 'middle', { cause: root });
    const top = new NodeError(0, 'UNREACHABLE', 'top', undefined, { cause: mid });
    expect(top.chain()).toEqual([top, mid, root]);
    const a = new AiloError('A', 'a');
    const b = new AiloError('B', 'b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(b.chain()).toEqual([b, a]);
  });
});
