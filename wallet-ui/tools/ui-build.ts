/**
 * Builds the wallet UI with Vite into wallet-ui/dist, and rebuilds only when its inputs changed: a digest of
 * every input file is kept in dist/.inputs, so `npm start` and `npm test` stay fast when the build is current.
 * A build goes to a temporary folder and is renamed into place, so a running node never serves half a build.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const UI_ROOT = fileURLToPath(new URL('..', import.meta.url));
const REPO = join(UI_ROOT, '..');
export const UI_DIST = join(UI_ROOT, 'dist');
const STAMP = '.inputs';
/** The built pages: the wallet (served by the node) and the miner's GUI (served by ailo-miner). */
const PAGES = ['index.html', 'miner.html'];

/** Everything the bundle is made from: the UI's sources, the browser-safe modules it imports, the lockfile. */
function inputFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== 'test') walk(path);
      } else if (!entry.name.endsWith('.test.ts')) out.push(path);
    }
  };
  walk(join(UI_ROOT, 'src'));
  if (existsSync(join(UI_ROOT, 'public'))) walk(join(UI_ROOT, 'public'));
  walk(join(REPO, 'chain'));
  walk(join(REPO, 'protocol'));
  walk(join(REPO, 'trainer'));
  out.push(...PAGES.map((p) => join(UI_ROOT, p)), join(UI_ROOT, 'tools', 'ui-build.ts'), join(REPO, 'package-lock.json'));
  return out.sort();
}

export function inputsDigest(): string {
  const h = createHash('sha256');
  for (const file of inputFiles()) {
    h.update(relative(REPO, file)).update('\0');
    h.update(readFileSync(file)).update('\0');
  }
  return h.digest('hex');
}

export function uiIsCurrent(): boolean {
  try {
    return readFileSync(join(UI_DIST, STAMP), 'utf8') === inputsDigest() && PAGES.every((p) => statSync(join(UI_DIST, p)).isFile());
  } catch {
    return false;
  }
}

export async function buildUi(log: (line: string) => void = console.log): Promise<void> {
  const { build } = await import('vite');
  const digest = inputsDigest();
  const tmp = join(UI_ROOT, `.dist-${process.pid}-${Date.now()}`);
  try {
    await build({
      root: UI_ROOT,
      configFile: false,
      logLevel: 'warn',
      publicDir: join(UI_ROOT, 'public'),
      build: {
        outDir: tmp,
        emptyOutDir: true,
        target: 'es2022',
        assetsInlineLimit: 0,
        modulePreload: { polyfill: false },
        sourcemap: true,
        reportCompressedSize: false,
        chunkSizeWarningLimit: 1024,
        rollupOptions: { input: Object.fromEntries(PAGES.map((p) => [p.replace('.html', ''), join(UI_ROOT, p)])) },
      },
      // The mining worker imports onnxruntime-web, which splits into chunks: only ES module workers can.
      worker: { format: 'es' },
    });
    writeFileSync(join(tmp, STAMP), digest);
    const old = `${UI_DIST}.old-${process.pid}`;
    if (existsSync(UI_DIST)) renameSync(UI_DIST, old);
    renameSync(tmp, UI_DIST);
    rmSync(old, { recursive: true, force: true });
    log(`wallet UI built into ${relative(process.cwd(), UI_DIST) || UI_DIST}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Builds when the UI is missing or its inputs changed; otherwise returns at once. */
export async function ensureUiBuilt(log: (line: string) => void = console.log): Promise<boolean> {
  if (uiIsCurrent()) return false;
  log('building the wallet UI (its sources changed or it was never built)...');
  await buildUi(log);
  return true;
}
