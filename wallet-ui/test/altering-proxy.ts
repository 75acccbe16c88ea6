/**
 * A man in the middle for the browser e2e tests: an HTTP proxy in front of a node that passes every request through
 * and relays the inference room's WebSocket (`/api/inference/room`), handing each binary frame the browser sends to
 * `alter` on the way. A page loaded from the proxy's origin is then a contributor whose result frames are changed in
 * flight, with no change to the page.
 *
 * (Playwright's `page.routeWebSocket` cannot do this: it replaces `WebSocket` in the page's frames by an init
 * script, and the room channel lives in a Web Worker.)
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

export interface AlteringProxy {
  url: string;
  /** Binary frames from the browser that `alter` changed. */
  altered(): number;
  close(): Promise<void>;
}

/** Close codes a peer may not send itself (1005 no status, 1006 abnormal, 1015 TLS): relayed as 1000. */
const sendable = (code: number): number => (code === 1005 || code === 1006 || code === 1015 ? 1000 : code);

const bytesOf = (data: RawData): Buffer => (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer));

export async function startAlteringProxy(target: string, alter: (frame: Uint8Array) => Uint8Array | undefined): Promise<AlteringProxy> {
  const upstream = new URL(target);
  let altered = 0;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
  const server: Server = createServer((req, res) => {
    const up = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (req.url !== '/api/inference/room') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (browser) => {
      const node = new WebSocket(`${target.replace(/^http/, 'ws')}${req.url}`, { maxPayload: 64 * 1024 * 1024 });
      const queued: [Buffer | Uint8Array, boolean][] = [];
      browser.on('message', (data, isBinary) => {
        let out: Buffer | Uint8Array = bytesOf(data);
        if (isBinary) {
          const changed = alter(new Uint8Array(out));
          if (changed) {
            out = changed;
            altered++;
          }
        }
        if (node.readyState === WebSocket.OPEN) node.send(out, { binary: isBinary });
        else queued.push([out, isBinary]);
      });
      node.on('open', () => {
        for (const [d, b] of queued.splice(0)) node.send(d, { binary: b });
      });
      node.on('message', (data, isBinary) => browser.send(bytesOf(data), { binary: isBinary }));
      node.on('close', (code, reason) => browser.close(sendable(code), reason));
      browser.on('close', (code, reason) =>
        node.readyState === WebSocket.CONNECTING ? node.terminate() : node.close(sendable(code), reason),
      );
      node.on('error', () => browser.terminate());
      browser.on('error', () => node.terminate());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    altered: () => altered,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A result frame (protocol/inference.ts `encodeHiddenFrame`) with its header kept and every 7th float32 of its payload
 * shifted by 0.5, as a contributor saving work or tampering would return; undefined for any other frame.
 */
export function alterResultFrame(frame: Uint8Array): Uint8Array | undefined {
  if (frame.length < 4) return undefined;
  const copy = frame.slice();
  const view = new DataView(copy.buffer);
  const headerLength = view.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(copy.subarray(4, 4 + headerLength))) as { kind?: string };
  if (header.kind !== 'result') return undefined;
  const offset = 4 + Math.ceil(headerLength / 4) * 4;
  for (let at = offset; at + 4 <= copy.length; at += 7 * 4) view.setFloat32(at, view.getFloat32(at, true) + 0.5, true);
  return copy;
}
