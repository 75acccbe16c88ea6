import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from './server.js';
import { serveWalletUi, WALLET_UI_CSP, walletUiCsp } from './static.js';

describe('wallet UI static serving', () => {
  let root: string;
  let server: Server;
  let url: string;
  let coordinators: string[] = [];
  const start = async (dist: string): Promise<{ server: Server; url: string }> => {
    const app = createApp(
      (router) => {
        router.get('/api/hello', (ctx) => {
          ctx.body = { hello: true };
        });
        router.get('/api/round', (ctx) => {
          ctx.body = { round: true };
        });
        router.post('/api/task', (ctx) => {
          ctx.status = 429;
          ctx.set('Retry-After', '3');
          ctx.body = { error: { code: 'ROUND_FULL', message: 'full' } };
        });
        router.post('/api/account/login', (ctx) => {
          ctx.body = { token: 'x' };
        });
        router.post('/api/only-post', (ctx) => {
          ctx.body = {};
        });
      },
      () => {},
    );
    app.use(serveWalletUi(dist, 'index.html', () => coordinators));
    const s = await new Promise<Server>((resolve) => {
      const l = app.listen(0, '127.0.0.1', () => resolve(l));
    });
    return { server: s, url: `http://127.0.0.1:${(s.address() as AddressInfo).port}` };
  };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'ailo-static-'));
    mkdirSync(join(root, 'dist', 'assets'), { recursive: true });
    writeFileSync(
      join(root, 'dist', 'index.html'),
      '<!doctype html><title>Ailo</title><script type="module" src="/assets/index-AbC123xy.js"></script>',
    );
    writeFileSync(join(root, 'dist', 'assets', 'index-AbC123xy.js'), 'console.log(1)');
    writeFileSync(join(root, 'dist', 'assets', 'style-Zz9_8-7q.css'), 'body{}');
    writeFileSync(join(root, 'dist', 'favicon.svg'), '<svg/>');
    writeFileSync(join(root, 'secret.txt'), 'outside the root');
    ({ server, url } = await start(join(root, 'dist')));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(root, { recursive: true, force: true });
  });

  it('serves index.html at / with a strict CSP and no caching', async () => {
    const res = await fetch(url + '/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe(WALLET_UI_CSP);
    expect(WALLET_UI_CSP).toContain("script-src 'self' 'wasm-unsafe-eval'");
    expect(WALLET_UI_CSP).not.toContain('unsafe-inline');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toContain('<title>Ailo</title>');
  });

  it('caches content-hashed assets other than scripts for a year with the right types', async () => {
    const js = await fetch(url + '/assets/index-AbC123xy.js');
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    // A worker's policy comes with its script: revalidated, so a new coordinator's origin reaches it.
    expect(js.headers.get('cache-control')).toBe('no-cache');
    expect(js.headers.get('content-security-policy')).toBe(WALLET_UI_CSP);
    const css = await fetch(url + '/assets/style-Zz9_8-7q.css');
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(css.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const svg = await fetch(url + '/favicon.svg');
    expect(svg.headers.get('content-type')).toBe('image/svg+xml');
    expect(svg.headers.get('cache-control')).toBe('no-cache');
    // fetch adds "Cache-Control: no-cache" to conditional requests unless the caller sets its own.
    const again = await fetch(url + '/favicon.svg', {
      headers: { 'if-none-match': svg.headers.get('etag')!, 'cache-control': 'max-age=0' },
    });
    expect(again.status).toBe(304);
    const index = await fetch(url + '/wallet', {
      headers: { 'if-modified-since': svg.headers.get('last-modified')!, 'cache-control': 'max-age=0' },
    });
    expect(index.status).toBe(304);
    const head = await fetch(url + '/assets/index-AbC123xy.js', { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), await head.text()]).toEqual([200, '14', '']);
  });

  it("lets the page call the network's coordinators, read at each request, and nothing but http(s) origins of plain hosts", async () => {
    coordinators = [
      'http://127.0.0.1:7001/',
      'https://b.example:8443/some/path',
      'http://[::1]:7002',
      'javascript:alert(1)',
      "http://x'; script-src *",
      // Hosts WHATWG URL parsing keeps as they are: each would add a directive, split the policy or allow any host.
      'http://c.example;sandbox',
      'http://a;worker-src',
      'http://x,sandbox',
      'http://*',
      'not a url',
    ];
    try {
      const csp = (await fetch(url + '/')).headers.get('content-security-policy')!;
      expect(csp).toBe(walletUiCsp(coordinators));
      const connect = csp.split('; ').find((d) => d.startsWith('connect-src'));
      expect(connect).toBe("connect-src 'self' http://127.0.0.1:7001 https://b.example:8443 http://[::1]:7002");
      expect(csp.split('; ')).toHaveLength(WALLET_UI_CSP.split('; ').length);
      expect(csp).not.toMatch(/sandbox|worker-src|,|\*/);
      expect(csp.split('; ').filter((d) => d.startsWith('script-src'))).toEqual(["script-src 'self' 'wasm-unsafe-eval'"]);
      // The worker's script carries the same policy.
      expect((await fetch(url + '/assets/index-AbC123xy.js')).headers.get('content-security-policy')).toBe(csp);
    } finally {
      coordinators = [];
    }
    expect((await fetch(url + '/')).headers.get('content-security-policy')).toBe(WALLET_UI_CSP);
  });

  it("answers other origins (CORS) on the miner's routes only", async () => {
    const origin = { origin: 'http://elsewhere.example' };
    const round = await fetch(url + '/api/round', { headers: origin });
    expect(round.headers.get('access-control-allow-origin')).toBe('*');
    expect(round.headers.get('access-control-allow-credentials')).toBeNull();
    const preflight = await fetch(url + '/api/task', {
      method: 'OPTIONS',
      headers: { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('content-type');
    // A refusal carries the headers too, and lets the page read Retry-After.
    const full = await fetch(url + '/api/task', { method: 'POST', headers: { ...origin, 'content-type': 'application/json' }, body: '{}' });
    expect([full.status, full.headers.get('access-control-allow-origin')]).toEqual([429, '*']);
    expect(full.headers.get('access-control-expose-headers')).toContain('retry-after');
    // Accounts, other routes and the page itself stay same-origin.
    for (const [method, path] of [
      ['POST', '/api/account/login'],
      ['GET', '/api/hello'],
      ['GET', '/'],
    ] as const) {
      const res = await fetch(url + path, { method, headers: origin });
      expect([path, res.headers.get('access-control-allow-origin')]).toEqual([path, null]);
    }
  });

  it('answers app paths with index.html and missing files with 404', async () => {
    for (const page of ['/wallet', '/settings/recovery', '/login?next=x']) {
      const res = await fetch(url + page);
      expect([page, res.status, res.headers.get('content-type')]).toEqual([page, 200, 'text/html; charset=utf-8']);
    }
    const missing = await fetch(url + '/assets/gone-12345678.js');
    expect(missing.status).toBe(404);
    expect((await missing.json()).error.code).toBe('NOT_FOUND');
  });

  it('leaves /api to the API: JSON 404 and 405 as before', async () => {
    expect(await (await fetch(url + '/api/hello')).json()).toEqual({ hello: true });
    const unknown = await fetch(url + '/api/nope');
    expect([unknown.status, (await unknown.json()).error.code]).toEqual([404, 'NOT_FOUND']);
    const wrongMethod = await fetch(url + '/api/only-post');
    expect([wrongMethod.status, (await wrongMethod.json()).error.code]).toEqual([405, 'METHOD_NOT_ALLOWED']);
    const post = await fetch(url + '/wallet', { method: 'POST' });
    expect(post.status).toBe(404);
  });

  it('never serves a file outside its folder', async () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/%00', '/%E0%A4%A']) {
      const res = await fetch(url + path);
      expect([path, res.status < 500, await res.text()]).not.toContain('outside the root');
      expect(res.status, path).toBeGreaterThanOrEqual(400);
    }
  });

  it('says how to build the UI when it is missing', async () => {
    const bare = await start(join(root, 'no-such-dist'));
    try {
      const res = await fetch(bare.url + '/');
      expect(res.status).toBe(503);
      expect(await res.text()).toMatch(/npm run build:ui/);
    } finally {
      await new Promise<void>((resolve) => bare.server.close(() => resolve()));
    }
  });
});
