/**
 * Serves the built wallet UI (wallet-ui/dist) at `/`: a strict Content-Security-Policy (scripts and styles from
 * this origin only, no inline code; calls to this origin and the network's coordinators), long caching for
 * content-hashed assets other than scripts, and the app's index.html for any
 * other page path so deep links work. Never touches `/api/` paths: those stay the API's (404 or 405 in JSON).
 */
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, Next } from 'koa';
import { originOf } from '../p2p/envelope.js';

export const WALLET_UI_DIST = fileURLToPath(new URL('../../wallet-ui/dist', import.meta.url));

/**
 * The page's Content-Security-Policy. 'wasm-unsafe-eval' lets keccak (hash-wasm) compile its WebAssembly; it allows
 * no JavaScript eval. Lit's styles are constructed style sheets, which style-src 'self' permits. `connectOrigins` are
 * the other origins the page and its workers may call: the network's coordinators, where the browser miner goes on
 * when this node stops answering (each answers them with CORS, server.ts). Only http(s) origins of plain hosts are
 * kept (`originOf`: DNS names, IPv4, bracketed IPv6), so no URL can add to or split the header.
 */
export function walletUiCsp(connectOrigins: readonly string[] = []): string {
  const origins = new Set(connectOrigins.flatMap((u) => originOf(u) ?? []));
  return [
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    ["connect-src 'self'", ...origins].join(' '),
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The policy of a node that knows no other coordinator (and of ailo-miner's GUI). */
export const WALLET_UI_CSP = walletUiCsp();

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/**
 * Vite names built assets `name-<hash>.ext` under assets/: their content never changes under that name. Scripts are
 * left out: a worker's policy comes with its script (CSP Level 3, 'Workers'), and the coordinators it may call can
 * change, so scripts are revalidated (a 304 that brings the current policy) instead of cached for a year.
 */
const HASHED_ASSET = /^\/assets\/[^/]+-[A-Za-z0-9_-]{8,}\.(?!m?js$)[a-z0-9]+$/;

function securityHeaders(ctx: Context, csp: string): void {
  ctx.set('Content-Security-Policy', csp);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
  ctx.set('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
}

async function fileAt(path: string): Promise<{ body: Buffer; mtime: Date; etag: string } | undefined> {
  try {
    const s = await stat(path);
    if (!s.isFile()) return undefined;
    return { body: await readFile(path), mtime: s.mtime, etag: `W/"${s.size.toString(16)}-${Math.floor(s.mtimeMs).toString(16)}"` };
  } catch {
    return undefined;
  }
}

/**
 * Koa middleware; mount it after the API router so it only sees requests no route answered. `page` is the app's
 * HTML file: index.html (the wallet) or miner.html (the miner's GUI, served by ailo-miner).
 */
export function serveWalletUi(
  root = WALLET_UI_DIST,
  page = 'index.html',
  /** The origins the page may call besides its own (see walletUiCsp), read at each request. */
  connectOrigins: () => readonly string[] = () => [],
): (ctx: Context, next: Next) => Promise<void> {
  const rootPrefix = normalize(root + sep);
  return async (ctx, next) => {
    await next();
    if (ctx.status !== 404 || ctx.body !== undefined) return; // something answered already
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return;
    if (ctx.path === '/api' || ctx.path.startsWith('/api/')) return;

    let path: string;
    try {
      path = decodeURIComponent(ctx.path);
    } catch {
      ctx.status = 400;
      ctx.body = { error: { code: 'BAD_REQUEST', message: 'the path is not valid percent-encoding' } };
      return;
    }
    if (path.includes('\0') || path.split('/').includes('..')) {
      ctx.status = 400;
      ctx.body = { error: { code: 'BAD_REQUEST', message: 'the path may not contain ".." or NUL' } };
      return;
    }
    const wanted = normalize(join(root, path));
    const file = wanted.startsWith(rootPrefix) && !path.endsWith('/') ? await fileAt(wanted) : undefined;
    if (file) {
      securityHeaders(ctx, walletUiCsp(connectOrigins()));
      ctx.type = TYPES[extname(wanted).toLowerCase()] ?? 'application/octet-stream';
      if (HASHED_ASSET.test(path)) ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
      else ctx.set('Cache-Control', 'no-cache');
      ctx.lastModified = file.mtime;
      ctx.etag = file.etag;
      ctx.status = 200;
      if (ctx.fresh) {
        ctx.status = 304;
        return;
      }
      ctx.body = file.body; // Koa sends headers only for HEAD
      return;
    }
    // A path with a file extension names a file that is not there; anything else is a page of the app.
    if (extname(path) !== '') {
      ctx.status = 404;
      ctx.body = { error: { code: 'NOT_FOUND', message: `no file ${path}` } };
      return;
    }
    const index = await fileAt(join(root, page));
    securityHeaders(ctx, walletUiCsp(connectOrigins()));
    ctx.set('Cache-Control', 'no-cache');
    if (!index) {
      ctx.status = 503;
      ctx.body = {
        error: {
          code: 'UI_NOT_BUILT',
          message: `the web UI (${page}) is not built: run "npm run build:ui" (npm start and ailo-miner do it for you), then reload`,
        },
      };
      return;
    }
    ctx.type = TYPES['.html']!;
    ctx.lastModified = index.mtime;
    ctx.etag = index.etag;
    ctx.status = 200;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.body = index.body;
  };
}
