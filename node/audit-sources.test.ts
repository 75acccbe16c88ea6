/** Where `ailo audit --models` reads updates from: what a node that serves none, or too much, gets said. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpUpdates, SourceError } from './audit-sources.js';

const DIGEST = `0x${'ab'.repeat(32)}` as const;

describe('httpUpdates', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    // /a: a node without the route (the API's own no-route answer); /b: a node that does not keep this update;
    // /c: a node that streams 2 MB for it.
    server = createServer((req, res) => {
      const json = (status: number, code: string, message: string): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code, message } }));
      };
      if (req.url!.startsWith('/a/')) return json(404, 'NOT_FOUND', `no route GET ${req.url}`);
      if (req.url!.startsWith('/b/')) return json(404, 'UNKNOWN_UPDATE', 'no accepted update with digest ab... is kept here');
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.alloc(2_000_000));
    }).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  it('says a node without the route runs no rounds and where to audit instead', async () => {
    const err = await httpUpdates(`${url}/a`, 1e6)(DIGEST).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect((err as Error).message).toBe(
      `${url}/a serves no updates (it runs no training rounds): audit the round coordinator, or its data folder`,
    );
  });

  it("passes on the node's own refusal for an update it does not keep, and reads no more than the cap", async () => {
    await expect(httpUpdates(`${url}/b`, 1e6)(DIGEST)).rejects.toMatchObject({ code: 'UNKNOWN_UPDATE' });
    await expect(httpUpdates(`${url}/c`, 1e6)(DIGEST)).rejects.toThrow(
      /more than the 1000000 allowed|larger than the 1000000 bytes allowed/,
    );
    expect((await httpUpdates(`${url}/c`, 3e6)(DIGEST)).length).toBe(2_000_000);
  });
});
