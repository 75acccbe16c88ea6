/** `ailo genesis new` through the real CLI: each new network gets its own chainId unless one is asked for. */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { genesisBlock } from '../../chain/genesis-block.js';
import { MAX_SAFE_CHAIN_ID, RANDOM_CHAIN_ID_MIN, randomChainId } from '../../genesis/devnet.js';
import { parseGenesis } from '../../genesis/genesis.js';

const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'ailo-genesis-new-'));

async function genesisNew(out: string, ...args: string[]): Promise<{ stdout: string; chainId: bigint; genesisHash: string }> {
  const { stdout } = await run(process.execPath, [
    '--import',
    'tsx',
    'node/ailo-cli.ts',
    'genesis',
    'new',
    '--out',
    join(root, out),
    ...args,
  ]);
  const { spec } = parseGenesis(readFileSync(join(root, out, 'genesis.json'), 'utf8'));
  return { stdout, chainId: spec.chainId, genesisHash: genesisBlock(spec).block.hash };
}

describe('ailo genesis new', () => {
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('draws a different chainId each time, within the JS-safe range, unless --chain-id names one', async () => {
    const [a, b, fixed] = await Promise.all([genesisNew('a'), genesisNew('b'), genesisNew('c', '--chain-id', '41233')]);
    expect(a.chainId).not.toBe(b.chainId);
    expect(a.genesisHash).not.toBe(b.genesisHash);
    for (const { chainId, stdout } of [a, b]) {
      expect(chainId).toBeGreaterThanOrEqual(RANDOM_CHAIN_ID_MIN);
      expect(chainId).toBeLessThanOrEqual(MAX_SAFE_CHAIN_ID);
      expect(stdout).toContain(`(chainId ${chainId}, drawn at random,`);
    }
    expect(fixed.chainId).toBe(41233n);
    expect(fixed.stdout).toContain('(chainId 41233, 1 coordinator(s))');
  }, 60_000);

  it('randomChainId stays in its bounds and does not repeat over many draws', () => {
    const drawn = Array.from({ length: 2000 }, randomChainId);
    expect(new Set(drawn).size).toBe(drawn.length);
    for (const id of drawn)
      expect(id >= RANDOM_CHAIN_ID_MIN && id <= MAX_SAFE_CHAIN_ID && id <= BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
  });
});
