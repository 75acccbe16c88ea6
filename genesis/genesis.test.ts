import { describe, expect, it } from 'vitest';
import { genesisBlock } from '../chain/genesis-block.js';
import { ALC } from '../chain/spec.js';
import { devnetGenesis, newNetwork } from './devnet.js';
import { formatGenesis, parseGenesis } from './genesis.js';
import { wallet } from '../chain/test/fixtures.js';
import { toChecksumAddress } from '../protocol/address.js';

const coordinator = wallet(1).address;
/** The coordinator's EIP-55 form with the case of its first letter flipped. */
const badChecksum = toChecksumAddress(coordinator).replace(/[a-fA-F]/, (c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()));
const good = () => JSON.parse(formatGenesis(devnetGenesis(coordinator, 1_700_000_000_000n))) as Record<string, unknown>;

describe('genesis files', () => {
  it('round-trips the devnet genesis with the reward policy of the design', () => {
    const { spec, file } = parseGenesis(JSON.stringify(good()));
    expect(spec.coordinators).toEqual([coordinator]);
    expect(spec.alloc.get(coordinator)).toBe(1_000_000n * ALC);
    expect(spec.rewards).toEqual({ contributionBase: ALC / 10n, minQuality: 1000, maxQuality: 10_000, inferenceShare: ALC / 20n, maxStaleness: 4n });
    expect(parseGenesis(formatGenesis(file)).spec).toEqual(spec);
  });

  it('gives chains that differ in any parameter different genesis hashes', () => {
    const base = genesisBlock(parseGenesis(JSON.stringify(good())).spec).block.hash;
    const changed = (k: string, v: unknown) => genesisBlock(parseGenesis(JSON.stringify({ ...good(), [k]: v })).spec).block.hash;
    expect(changed('chainId', '5')).not.toBe(base);
    expect(changed('blockPeriodMs', 999)).not.toBe(base);
    expect(changed('model', 'ailo-1b')).not.toBe(base);
    expect(changed('name', 'renamed')).toBe(base); // the name is a label, not a parameter
  });

  it.each([
    ['not JSON', '{', /not valid JSON/],
    ['an array', '[]', /must be a JSON object/],
    ['chainId 0', { chainId: '0' }, /chainId must not be 0/],
    ['a negative allocation', { alloc: { [coordinator]: '-1' } }, /alloc\[.*\] must be a non-negative integer/],
    ['an allocation as a float', { alloc: { [coordinator]: 1.5 } }, /alloc\[/],
    ['a bad checksum', { coordinators: [badChecksum] }, /bad EIP-55 checksum/],
    ['no coordinators', { coordinators: [] }, /coordinators must be a list of 1 to 64 addresses/],
    ['a duplicated coordinator', { coordinators: [coordinator, coordinator] }, /lists an address twice/],
    ['inverted quality bounds', { rewards: { ...(good().rewards as object), minQuality: 5000, maxQuality: 1000 } }, /minQuality is above/],
    ['a zero block period', { blockPeriodMs: 0 }, /blockPeriodMs must be an integer from 10/],
    ['a model name with a path', { model: '../x' }, /model must be a config name/],
  ])('refuses %s with a message naming the field', (_name, patch, message) => {
    const text = typeof patch === 'string' ? patch : JSON.stringify({ ...good(), ...patch });
    expect(() => parseGenesis(text)).toThrow(message);
  });

  it('creates new networks with distinct fresh coordinator keys', () => {
    const a = newNetwork({ name: 'x', chainId: 9n, coordinatorCount: 3 });
    const b = newNetwork({ name: 'x', chainId: 9n, coordinatorCount: 3 });
    expect(a.keys).toHaveLength(3);
    expect(parseGenesis(a.genesis).spec.coordinators).toHaveLength(3);
    expect(a.genesis).not.toBe(b.genesis);
  });
});
