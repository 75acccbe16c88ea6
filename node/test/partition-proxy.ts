/**
 * A test proxy in front of one node: forwards HTTP to it, or, while a partition is on, refuses requests from
 * nodes of the other side (known by the URL in the envelope every node signs its peer requests with; a test
 * partition, not a security boundary).
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ENVELOPE_HEADERS } from '../p2p/envelope.js';

export class PartitionProxy {
  target = '';
  /** Public URLs (this proxy's peers' proxies) whose requests are dropped. */
  readonly blocked = new Set<string>();
  private constructor(private readonly server: Server) {}

  static async start(): Promise<PartitionProxy> {
    const server = createServer();
    const proxy = new PartitionProxy(server);
    server.on('request', (req, res) => {
      const from = req.headers[ENVELOPE_HEADERS.url];
      if ((typeof from === 'string' && proxy.blocked.has(from)) || !proxy.target) {
        req.socket.destroy();
        return;
      }
      const upstream = request(proxy.target + req.url, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
