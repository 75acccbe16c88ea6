/** Runs `ailo-node` as a real child process (for crash tests) and finds its URL from what it prints; `env` adds to its environment. */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ALC } from '../../chain/spec.js';
import type { Wallet } from '../../chain/test/fixtures.js';
import { genesisFor } from '../../genesis/devnet.js';
import { formatGenesis } from '../../genesis/genesis.js';
import { toHex } from '../../protocol/bytes.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface NodeProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

export async function spawnNode(args: string[], env?: Record<string, string>): Promise<NodeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'node/cli.ts', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: env ? { ...process.env, ...env } : process.env,
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+) /.exec(out);
      if (m) resolve(m[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`ailo-node exited with ${code} before listening:\n${out}`)));
  });
  return { child, url, output: () => out, exited };
}

/** A port nothing listens on now (the kernel's pick for an ephemeral listener, closed again). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface CoordinatorNetwork {
  nodes: NodeProcess[];
  urls: string[];
  genesisText: string;
}

/**
 * A training network of `keys.length` coordinators as real `ailo-node` processes in `root`: a genesis naming them
 * (`chainId`, 200 ms blocks), each with its key, the round settings `rounds` (--rounds) and the others as peers (as
 * operators list each other; ports picked up front). `env` is added to the children's environment.
 */
export async function spawnCoordinators(
  root: string,
  o: { name: string; chainId: bigint; keys: Wallet[]; rounds: object; env?: Record<string, string> },
): Promise<CoordinatorNetwork> {
  const genesisText = formatGenesis(
    genesisFor({
      name: o.name,
      chainId: o.chainId,
      coordinators: o.keys.map((k) => k.address),
      alloc: new Map(o.keys.map((k) => [k.address, 10n * ALC])),
      blockPeriodMs: 200,
      outOfTurnDelayMs: 200,
      timestamp: 1_700_000_000_000n,
    }),
  );
  writeFileSync(join(root, 'genesis.json'), genesisText);
  writeFileSync(join(root, 'rounds.json'), JSON.stringify(o.rounds));
  const ports = await Promise.all(o.keys.map(() => freePort()));
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const nodes: NodeProcess[] = [];
  for (const [i, k] of o.keys.entries()) {
    writeFileSync(join(root, `c${i}.key`), toHex(k.key));
    nodes.push(
      await spawnNode(
        [
          ...['--data', join(root, `c${i}`), '--port', String(ports[i]), '--genesis', join(root, 'genesis.json')],
          ...['--coordinator-key', join(root, `c${i}.key`), '--rounds', join(root, 'rounds.json')],
          ...(o.keys.length > 1 ? ['--peers', urls.filter((_, j) => j !== i).join(',')] : []),
        ],
        o.env,
      ),
    );
  }
  return { nodes, urls, genesisText };
}
