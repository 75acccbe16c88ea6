/**
 * The README's "Try it" commands, run as written against a node started the way the README starts one (`npm start`
 * with its options after `--`), except for two substitutions a test must make: a free port instead of 8645, and a
 * temporary data folder instead of ./data. A command that exits non-zero, or an address whose EIP-55 checksum is
 * wrong (issue 17), fails the test.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './test/harness.js';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;

/** The shell lines of the README's fenced block after "Try it:". */
function tryItCommands(readme: string): string[] {
  const block = /Try it:\s*```sh\n([\s\S]*?)```/.exec(readme);
  if (!block) throw new Error('README has no "Try it:" sh block');
  return block[1]!
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('README "Try it", as written', () => {
  let dir: string;
  let port: number;
  let node: ChildProcess;
  let log = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ailo-readme-'));
    port = await freePort();
    // `npm start -- --port N --data DIR`, as the README says options are passed.
    node = spawn('npm', ['start', '--', '--port', String(port), '--data', join(dir, 'data'), '--no-federation'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    node.stdout!.on('data', (d) => (log += d));
    node.stderr!.on('data', (d) => (log += d));
    await waitFor(
      'the node to answer',
      async () => (await fetch(`http://127.0.0.1:${port}/api/status`).catch(() => undefined))?.ok || undefined,
      90_000,
    );
  }, 120_000);

  afterAll(async () => {
    if (node?.pid) {
      try {
        process.kill(-node.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await new Promise((resolve) => node.once('exit', resolve)).catch(() => undefined);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs every command, and the transfer arrives', async () => {
    const commands = tryItCommands(readFileSync(join(root, 'README.md'), 'utf8'));
    expect(commands.length).toBeGreaterThanOrEqual(3);
    const outputs: string[] = [];
    for (const written of commands) {
      const command = written.replaceAll('127.0.0.1:8645', `127.0.0.1:${port}`).replaceAll('data/', `${join(dir, 'data')}/`);
      try {
        // AILO_NODE: the node the CLI commands use when they name none (the README's rely on the default port).
        const { stdout } = await run('bash', ['-c', command], {
          cwd: root,
          timeout: 90_000,
          env: { ...process.env, AILO_NODE: `http://127.0.0.1:${port}` },
        });
        outputs.push(stdout);
      } catch (err) {
        throw new Error(`README command failed: ${written}\n${(err as { stderr?: string }).stderr ?? String(err)}\nnode log:\n${log}`);
      }
    }
    // The account line's answer: the 2.5 ALC the send line moved.
    const account = outputs.map((o) => o.trim()).find((o) => o.startsWith('{') && o.includes('"balance"'));
    expect(account, outputs.join('\n---\n')).toBeDefined();
    expect(JSON.parse(account!).balance).toBe('2500000000000000000');
  }, 240_000);
});

describe('README and npm set-up, as a newcomer meets them', () => {
  it('links only to files inside the repository, and each exists', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    // Markdown links and backticked paths: nothing outside the repository (issue 17: a pointer to ../shared/DESIGN.md).
    expect(readme).not.toMatch(/\.\.\//);
    for (const [, target] of readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      expect(() => readFileSync(join(root, target!)), `README links to ${target}`).not.toThrow(/ENOENT/);
    }
  });

  it('npm commands print no warning about the project config (.npmrc)', async () => {
    const { stdout, stderr } = await run('npm', ['pkg', 'get', 'name'], { cwd: root, timeout: 60_000 });
    expect(stdout.trim()).toBe('"ailo-network"');
    expect(stderr).not.toMatch(/warn|Unknown project config/i);
  });

  it.each(['ailo', 'ailo-node', 'ailo-trainer', 'ailo-miner'])(
    '`npx %s --help` runs from a clone (the bins are not on PATH)',
    async (bin) => {
      const { stdout } = await run('npx', ['--no-install', bin, '--help'], { cwd: root, timeout: 60_000 });
      expect(stdout).toContain(bin);
    },
    70_000,
  );
});
