/**
 * Genesis files: the JSON an operator writes (or `ailo genesis new` creates) and the ChainSpec the ledger runs on.
 * Amounts are decimal strings of base units, as in geth's `alloc`; every field is checked with a message naming it.
 */
import { parseAddress, toChecksumAddress, type Address } from '../protocol/address.js';
import { isHex } from '../protocol/bytes.js';
import type { ChainSpec } from '../chain/spec.js';

export interface GenesisFile {
  name: string;
  chainId: string;
  coordinators: string[];
  alloc: Record<string, string>;
  blockPeriodMs: number;
  outOfTurnDelayMs: number;
  timestamp: string;
  rewards: {
    /** Base units per accepted contribution at 1x. */
    contributionBase: string;
    /** Quality multiplier bounds, in thousandths (1000 = 1x). */
    minQuality: number;
    maxQuality: number;
    inferenceShare: string;
    maxStaleness: number;
  };
  model: string;
  genesisModelDigest: string;
}

export class GenesisError extends Error {
  override name = 'GenesisError';
}

const MAX_U256 = (1n << 256n) - 1n;

function fail(message: string): never {
  throw new GenesisError(`genesis: ${message}`);
}

function uint(value: unknown, field: string, max = MAX_U256): bigint {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value !== 'string' || !/^(0|[1-9][0-9]*)$/.test(value)) fail(`${field} must be a non-negative integer as a decimal string`);
  const n = BigInt(value);
  if (n > max) fail(`${field} is too large`);
  return n;
}

function int(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    fail(`${field} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function address(value: unknown, field: string): Address {
  try {
    return parseAddress(value, field);
  } catch (err) {
    fail((err as Error).message);
  }
}

/** Parses and checks a genesis file's text. */
export function parseGenesis(text: string): { file: GenesisFile; spec: ChainSpec } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    fail(`not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('must be a JSON object');
  const g = raw as Record<string, unknown>;
  const name = typeof g.name === 'string' && g.name.length > 0 && g.name.length <= 64 ? g.name : fail('name must be a string of 1 to 64 characters');
  const chainId = uint(g.chainId, 'chainId', (1n << 64n) - 1n);
  if (chainId === 0n) fail('chainId must not be 0');
  if (!Array.isArray(g.coordinators) || g.coordinators.length === 0 || g.coordinators.length > 64) {
    fail('coordinators must be a list of 1 to 64 addresses');
  }
  const coordinators = g.coordinators.map((c, i) => address(c, `coordinators[${i}]`));
  if (new Set(coordinators).size !== coordinators.length) fail('coordinators lists an address twice');
  if (typeof g.alloc !== 'object' || g.alloc === null || Array.isArray(g.alloc)) fail('alloc must be an object of address -> base units');
  const alloc = new Map<Address, bigint>();
  let supply = 0n;
  for (const [key, value] of Object.entries(g.alloc)) {
    const a = address(key, `alloc key ${key}`);
    if (alloc.has(a)) fail(`alloc lists ${key} twice`);
    const amount = uint(value, `alloc[${key}]`);
    alloc.set(a, amount);
    supply += amount;
  }
  if (supply > MAX_U256) fail('alloc totals more than 2^256 - 1 base units');
  const blockPeriodMs = int(g.blockPeriodMs, 'blockPeriodMs', 10, 3_600_000);
  const outOfTurnDelayMs = int(g.outOfTurnDelayMs, 'outOfTurnDelayMs', 0, 3_600_000);
  const timestamp = uint(g.timestamp, 'timestamp', (1n << 64n) - 1n);
  if (typeof g.rewards !== 'object' || g.rewards === null) fail('rewards must be an object');
  const r = g.rewards as Record<string, unknown>;
  const rewards = {
    contributionBase: uint(r.contributionBase, 'rewards.contributionBase'),
    minQuality: int(r.minQuality, 'rewards.minQuality', 1, 1_000_000),
    maxQuality: int(r.maxQuality, 'rewards.maxQuality', 1, 1_000_000),
    inferenceShare: uint(r.inferenceShare, 'rewards.inferenceShare'),
    maxStaleness: BigInt(int(r.maxStaleness, 'rewards.maxStaleness', 0, 1_000_000)),
  };
  if (rewards.minQuality > rewards.maxQuality) fail('rewards.minQuality is above rewards.maxQuality');
  const model = typeof g.model === 'string' && /^[a-z0-9][a-z0-9._-]{0,63}$/.test(g.model) ? g.model : fail('model must be a config name such as "ailo-1b"');
  const digest = g.genesisModelDigest ?? '0x' + '00'.repeat(32);
  if (!isHex(digest, 32)) fail('genesisModelDigest must be 0x followed by 64 hex digits');
  const spec: ChainSpec = {
    chainId, coordinators, alloc, blockPeriodMs, outOfTurnDelayMs, genesisTimestamp: timestamp, rewards, model,
    genesisModelDigest: digest.toLowerCase() as `0x${string}`,
  };
  return { file: toGenesisFile(name, spec), spec };
}

/** The canonical file form of a spec (checksummed addresses, strings for big numbers). */
export function toGenesisFile(name: string, spec: ChainSpec): GenesisFile {
  return {
    name,
    chainId: spec.chainId.toString(),
    coordinators: spec.coordinators.map(toChecksumAddress),
    alloc: Object.fromEntries([...spec.alloc].map(([a, v]) => [toChecksumAddress(a), v.toString()])),
    blockPeriodMs: spec.blockPeriodMs,
    outOfTurnDelayMs: spec.outOfTurnDelayMs,
    timestamp: spec.genesisTimestamp.toString(),
    rewards: {
      contributionBase: spec.rewards.contributionBase.toString(),
      minQuality: spec.rewards.minQuality,
      maxQuality: spec.rewards.maxQuality,
      inferenceShare: spec.rewards.inferenceShare.toString(),
      maxStaleness: Number(spec.rewards.maxStaleness),
    },
    model: spec.model,
    genesisModelDigest: spec.genesisModelDigest,
  };
}

export function formatGenesis(file: GenesisFile): string {
  return JSON.stringify(file, null, 2) + '\n';
}
