/**
 * The layers' dependency directions hold at compile time (issue 16): protocol/ is a browser-safe leaf (its own project,
 * no Node types, nothing outside itself); chain/ and trainer/ are composite projects that may import protocol/ and
 * nothing else of the repository; the browser code (wallet-ui/src) compiles without Node types, with every module it
 * imports. Each probe file is added, compiled with the layer's project and removed.
 */
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(new URL('.', import.meta.url).pathname, '..');
const tsc = join(root, 'node_modules', '.bin', 'tsc');

/** `tsc` with `args` in the repository root: ok, or the compiler's output. */
async function compile(...args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    await run(tsc, args, { cwd: root, timeout: 300_000 });
    return { ok: true, out: '' };
  } catch (err) {
    return { ok: false, out: String((err as { stdout?: string }).stdout ?? err) };
  }
}

const buildLayers = (): Promise<{ ok: boolean; out: string }> => compile('-b', 'protocol', 'chain', 'trainer');
/** One layer's project without emitting (a probe's import from outside would otherwise be emitted beside its source). */
const checkLayer = (layer: string): Promise<{ ok: boolean; out: string }> => compile('--noEmit', '-p', layer);
const compileBrowser = (): Promise<{ ok: boolean; out: string }> => compile('--noEmit', '-p', 'wallet-ui/src');

/** Writes each probe (path relative to the root -> source), runs `check`, removes them. */
async function withProbes<T>(probes: Record<string, string>, check: () => Promise<T>): Promise<T> {
  const paths = Object.keys(probes).map((p) => join(root, p));
  try {
    for (const [p, source] of Object.entries(probes)) writeFileSync(join(root, p), source);
    return await check();
  } finally {
    for (const p of paths) rmSync(p, { force: true });
  }
}

const probe = `direction-probe-${process.pid}`;

describe('dependency directions, checked by the compiler', () => {
  it('every layer compiles on its own: protocol, chain and trainer as projects, the browser code without Node types', async () => {
    expect(await buildLayers()).toEqual({ ok: true, out: '' });
    expect(await compileBrowser()).toEqual({ ok: true, out: '' });
  }, 600_000);

  it('refuses chain -> node, trainer -> chain and browser code -> a Node module', async () => {
    expect((await buildLayers()).ok).toBe(true); // protocol's declarations, which chain and trainer compile against
    const [chain, trainer, browser] = await withProbes(
      {
        [`chain/${probe}.ts`]: "import { repeatLimited } from '../node/log.js';\nexport const x = repeatLimited;\n",
        [`trainer/${probe}.ts`]: "import { merkleRoot } from '../chain/merkle.js';\nexport const y = merkleRoot;\n",
        [`wallet-ui/src/${probe}.ts`]: "import { readFileSync } from 'node:fs';\nexport const z = readFileSync;\n",
      },
      async () => [await checkLayer('chain'), await checkLayer('trainer'), await compileBrowser()] as const,
    );
    expect(chain.ok).toBe(false);
    expect(chain.out).toMatch(/node\/log\.ts' is not listed within the file list of project '.*chain\/tsconfig\.json'/);
    expect(trainer.ok).toBe(false);
    expect(trainer.out).toMatch(/chain\/merkle\.ts' is not listed within the file list of project '.*trainer\/tsconfig\.json'/);
    expect(browser.ok).toBe(false);
    expect(browser.out).toMatch(/Cannot find module 'node:fs'/);
  }, 600_000);

  it('refuses protocol -> node and protocol -> a Node module', async () => {
    const r = await withProbes(
      {
        [`protocol/${probe}-a.ts`]: "import { repeatLimited } from '../node/log.js';\nexport const x = repeatLimited;\n",
        [`protocol/${probe}-b.ts`]: "import { readFileSync } from 'node:fs';\nexport const y = readFileSync;\n",
      },
      () => checkLayer('protocol'),
    );
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(/node\/log\.ts' is not (under 'rootDir'|listed within the file list)/);
    expect(r.out).toMatch(/Cannot find module 'node:fs'/);
  }, 600_000);
});
