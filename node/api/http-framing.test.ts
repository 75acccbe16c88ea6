/**
 * Requests the HTTP parser refuses, and requests whose client hangs up mid-body, as a hostile or broken client sends
 * them over a raw socket (issue 17): each gets the API's `{ error }` body (never Node's bare 400), the node logs no
 * stack trace, and it goes on serving.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AiloNode } from '../node.js';
import { get, startTestNode, testNet, type TestNet } from '../test/harness.js';

/** Sends `raw` (optionally half-closing after it) and returns everything the node answers before it closes. */
function rawRequest(url: string, raw: string, halfClose = false): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(raw);
      if (halfClose) socket.end();
    });
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => (answer += d));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy());
  });
}

function parse(answer: string): { status: number; json: any } {
  const [head, ...body] = answer.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head ?? '')?.[1]), json: JSON.parse(body.join('\r\n\r\n') || 'null') };
}

describe('bad HTTP framing', () => {
  let net: TestNet;
  let node: AiloNode;
  const logs: string[] = [];

  beforeAll(async () => {
    net = testNet();
    node = await startTestNode(net, undefined, { log: (l) => logs.push(l) });
  });
  afterAll(async () => {
    await node.stop();
    net.remove();
  });

  const post = (headers: string): string =>
    `POST /api/ledger/transfer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}\r\n`;
  it.each([
    ['a negative Content-Length', `${post('Content-Length: -5\r\n')}{}`],
    ['two different Content-Lengths', `${post('Content-Length: 2\r\nContent-Length: 3\r\n')}{}`],
    ['a bad chunk size', `${post('Transfer-Encoding: chunked\r\n')}zz\r\n{}\r\n0\r\n\r\n`],
    ['a malformed request line', 'POST /api/ledger/transfer HTTP/9\r\n\r\n'],
  ])("%s gets 400 with the API's error body", async (_name, raw) => {
    const r = parse(await rawRequest(node.url, raw));
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('BAD_HTTP_REQUEST');
    expect(r.json.error.message).toMatch(/HPE_/);
  });

  it('a body cut short by a half-close is a client error, not an internal one with a stack trace', async () => {
    const answer = await rawRequest(node.url, `${post('Content-Length: 100\r\n')}{"from":`, true);
    if (answer !== '') expect(parse(answer).json.error.code).not.toBe('INTERNAL');
    await new Promise((r) => setTimeout(r, 200));
    expect(logs.filter((l) => /INTERNAL|\n\s+at /.test(l))).toEqual([]);
    expect((await get(`${node.url}/api/status`)).status).toBe(200);
  });
});
