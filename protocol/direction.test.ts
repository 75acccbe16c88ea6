/**
 * protocol/ stays a leaf that runs in a browser (issue 16): compiled on its own (protocol/tsconfig.json), an import of
 * another layer or of a Node module is a compile error. Each probe file is added, compiled and removed.
 */
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const here = new URL('.', import.meta.url).pathname;
const tsc = join(here, '..', 'node_modules', '.bin', 'tsc');

async function compile(): Promise<{ ok: boolean; out: string }> {
  try {
    await run(tsc, ['--noEmit', '-p', join(here, 'tsconfig.json')], { timeout: 120_000 });
    return { ok: true, out: '' };
  } catch (err) {
    return { ok: false, out: String((err as { stdout?: string }).stdout ?? err) };
  }
}

async function withProbe(source: string): Promise<{ ok: boolean; out: string }> {
  const probe = join(here, `direction-probe-${process.pid}.ts`);
  writeFileSync(probe, source);
  try {
    return await compile();
  } finally {
    rmSync(probe, { force: true });
  }
}

describe('protocol/ dependency direction', () => {
  it('compiles on its own, without Node types', async () => {
    expect(await compile()).toEqual({ ok: true, out: '' });
  }, 130_000);

  it('refuses an import of the node layer (outside protocol/)', async () => {
    const r = await withProbe("import { repeatLimited } from '../node/log.js';\nexport const x = repeatLimited;\n");
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(/TS6059|is not under 'rootDir'/);
  }, 130_000);

  it('refuses a Node module (browser code cannot have one)', async () => {
    const r = await withProbe("import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n");
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(/TS2307|Cannot find module 'node:fs'/);
  }, 130_000);
});
