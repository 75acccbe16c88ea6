/**
 * The native miner's fetch waits for a slow answer: a coordinator verifying a large model's task answers after many
 * minutes, past undici's default 300 s wait for headers (measured with AILO-1B: the submission was sent again while the
 * first was being verified, and refused). Shown here with short waits against a real server that answers late.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANSWER_WAIT_MS, patientFetch } from './patient-fetch.js';

describe("a submission's fetch", () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    // Reads the whole request, then answers 1.5 s later (a coordinator verifying).
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => setTimeout(() => res.end('verified'), 1500));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('waits for an answer as long as it is told to, and no longer', async () => {
    const ok = await patientFetch(10_000)(url, { method: 'POST', body: new Uint8Array(1 << 20) });
    expect([ok.status, await ok.text()]).toEqual([200, 'verified']);
    const late = await patientFetch(500)(url, { method: 'POST', body: new Uint8Array(16) }).catch((e: unknown) => e);
    expect((late as { cause?: { code?: string } }).cause?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    // The miner's own wait is hours, not undici's default 300 s.
    expect(ANSWER_WAIT_MS).toBeGreaterThanOrEqual(3_600_000);
  });
});
