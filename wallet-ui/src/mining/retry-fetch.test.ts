import { describe, expect, it } from 'vitest';
import { backoffMs, fetchWithRetry, NodeUnreachableError, type RetryPolicy } from './retry-fetch.js';

const POLICY: RetryPolicy = { attempts: 4, baseMs: 500, maxMs: 1_500 };

/** A fetch that plays `script` (a status, or 'throw' for a network error), one entry per call. */
function scripted(script: (number | 'throw')[]): { fetch: typeof fetch; calls: () => number } {
  let i = 0;
  const fake = (async () => {
    const step = script[Math.min(i++, script.length - 1)]!;
    if (step === 'throw') throw new TypeError('Failed to fetch');
    return new Response(JSON.stringify({ status: step }), { status: step });
  }) as typeof fetch;
  return { fetch: fake, calls: () => i };
}

describe('fetchWithRetry', () => {
  it('retries network errors and 502/503/504 with growing waits, announcing each, until the node answers', async () => {
    const { fetch, calls } = scripted(['throw', 502, 503, 200]);
    const waits: number[] = [];
    const lines: string[] = [];
    const res = await fetchWithRetry('http://node/api/task', {}, {
      what: 'task', policy: POLICY, fetch, random: () => 0.5, onRetry: (l) => lines.push(l), sleep: async (ms) => void waits.push(ms),
    });
    expect(res.status).toBe(200);
    expect(calls()).toBe(4);
    expect(waits).toEqual([500, 1000, 1500]);
    expect(lines).toEqual([
      'node unreachable (Failed to fetch) on task; retry 1 in 0.5 s',
      'node unreachable (HTTP 502) on task; retry 2 in 1.0 s',
      'node unreachable (HTTP 503) on task; retry 3 in 1.5 s',
    ]);
  });

  it('returns the node\'s own answers at once, refusals and server errors included', async () => {
    for (const status of [201, 404, 409, 429, 500]) {
      const { fetch, calls } = scripted([status]);
      const res = await fetchWithRetry('http://node/x', {}, { what: 'submit', policy: POLICY, fetch, sleep: async () => {} });
      expect([res.status, calls()]).toEqual([status, 1]);
    }
  });

  it('gives up after the policy\'s attempts with an error that names the request and the reason', async () => {
    const { fetch, calls } = scripted([504]);
    const err = await fetchWithRetry('http://node/x', {}, { what: 'tokens', policy: POLICY, fetch, sleep: async () => {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeUnreachableError);
    expect((err as Error).message).toMatch(/unreachable \(HTTP 504\) on tokens after 4 attempts/);
    expect(calls()).toBe(4);
  });

  it('makes a function init afresh for each attempt (a signed single-use body), and does not retry when making it fails', async () => {
    const bodies: string[] = [];
    const recording = (async (_url: string, init: RequestInit) => {
      bodies.push(String(init.body));
      return new Response('{}', { status: bodies.length < 3 ? 503 : 201 });
    }) as typeof fetch;
    let n = 0;
    const res = await fetchWithRetry('http://node/api/task', async () => ({ method: 'POST', body: `signed ${++n}` }), {
      what: 'task', policy: POLICY, fetch: recording, sleep: async () => {},
    });
    expect([res.status, bodies]).toEqual([201, ['signed 1', 'signed 2', 'signed 3']]);
    const { fetch, calls } = scripted([201]);
    const err = await fetchWithRetry('http://node/api/task', async () => { throw new Error('the wallet is locked'); }, {
      what: 'task', policy: POLICY, fetch, sleep: async () => {},
    }).catch((e: unknown) => e);
    expect([(err as Error).message, calls()]).toEqual(['the wallet is locked', 0]);
  });

  it('does not retry a request its caller aborted', async () => {
    const abort = new AbortController();
    abort.abort();
    const aborted = (async () => {
      throw new DOMException('aborted', 'AbortError');
    }) as typeof fetch;
    const err = await fetchWithRetry('http://node/x', { signal: abort.signal }, { what: 'chunk', policy: POLICY, fetch: aborted, sleep: async () => {} }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
  });

  it('spreads waits by 0.75..1.25 and caps them', () => {
    expect(backoffMs(POLICY, 1, 0)).toBe(375);
    expect(backoffMs(POLICY, 1, 1)).toBe(625);
    expect(backoffMs(POLICY, 10, 0.5)).toBe(1_500);
  });
});
