import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { privateKeyToAddress } from '../protocol/signature.js';
import { tempDir } from '../chain/test/fixtures.js';
import { prepareDataDir, readKeyFile } from './data-dir.js';
import { testNet } from './test/harness.js';
import { AiloNode } from './node.js';

describe('data folder', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => cleanups.splice(0).forEach((c) => c()));
  const dir = () => {
    const t = tempDir();
    cleanups.push(t.remove);
    return t.dir;
  };

  it('turns an empty folder into a devnet coordinated by a key it creates, and reuses both later', () => {
    const data = dir();
    const first = prepareDataDir({ data });
    expect(statSync(join(data, 'coordinator.key')).mode & 0o777).toBe(0o600);
    expect(first.coordinator?.address).toBe(privateKeyToAddress(readKeyFile(join(data, 'coordinator.key'))));
    expect(first.spec.coordinators).toEqual([first.coordinator!.address]);
    const again = prepareDataDir({ data });
    expect(again.genesisText).toBe(first.genesisText);
    expect(again.coordinator?.address).toBe(first.coordinator?.address);
    expect(again.notes).toEqual([]);
  });

  it('gives a follower a node key of its own, made once (mode 0600), and a coordinator its coordinator key', () => {
    const net = testNet();
    cleanups.push(net.remove);
    const data = dir();
    const first = prepareDataDir({ data, genesisFile: net.genesisPath });
    expect(first.coordinator).toBeUndefined();
    expect(statSync(join(data, 'node.key')).mode & 0o777).toBe(0o600);
    expect(first.nodeKey.address).toBe(privateKeyToAddress(readKeyFile(join(data, 'node.key'))));
    expect(first.notes.join('\n')).not.toMatch(/[0-9a-f]{64}/);
    expect(prepareDataDir({ data, genesisFile: net.genesisPath }).nodeKey.address).toBe(first.nodeKey.address);
    const coordinator = prepareDataDir({ data: dir(), genesisFile: net.genesisPath, coordinatorKeyFile: net.keyPath });
    expect(coordinator.nodeKey.address).toBe(coordinator.coordinator!.address);
  });

  it('refuses to switch a folder to another genesis', () => {
    const data = dir();
    prepareDataDir({ data });
    const net = testNet();
    cleanups.push(net.remove);
    expect(() => prepareDataDir({ data, genesisFile: net.genesisPath })).toThrow(/holds the chain of another genesis/);
  });

  it('names the problem with a bad key file or a key that is not a coordinator', () => {
    const data = dir();
    const bad = join(data, 'bad.key');
    writeFileSync(bad, 'not a key');
    expect(() => prepareDataDir({ data, coordinatorKeyFile: bad })).toThrow(/must hold a 32-byte private key/);
    expect(() => prepareDataDir({ data, coordinatorKeyFile: join(data, 'missing.key') })).toThrow(/cannot read key file .*ENOENT/);
    const net = testNet();
    cleanups.push(net.remove);
    const other = join(data, 'other.key');
    writeFileSync(other, '0x' + '11'.repeat(32));
    expect(() => prepareDataDir({ data, genesisFile: net.genesisPath, coordinatorKeyFile: other })).toThrow(/is not a coordinator/);
  });

  it('names a malformed genesis file', () => {
    const data = dir();
    const g = join(data, 'g.json');
    writeFileSync(g, '{"chainId": "x"}');
    expect(() => prepareDataDir({ data: join(data, 'd'), genesisFile: g })).toThrow(/g\.json: genesis: name must be/);
    expect(existsSync(join(data, 'd', 'genesis.json'))).toBe(false);
  });

  it('refuses a second node on a folder in use, saying so', async () => {
    const net = testNet();
    cleanups.push(net.remove);
    const opts = { data: join(net.root, 'd'), host: '127.0.0.1', port: 0, genesisFile: net.genesisPath, log: () => {} };
    const node = await AiloNode.start(opts);
    try {
      await expect(AiloNode.start(opts)).rejects.toThrow(/in use by another process/);
    } finally {
      await node.stop();
    }
    expect(readFileSync(join(opts.data, 'genesis.json'), 'utf8')).toBe(readFileSync(net.genesisPath, 'utf8'));
  });
});
