/** Shared test fixtures: deterministic keys, a small spec, and a chain in a temporary LevelDB folder. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Address } from '../../protocol/address.js';
import { fromHex } from '../../protocol/bytes.js';
import { privateKeyToAddress } from '../../protocol/signature.js';
import { JsVerifier, type SignatureVerifier } from '../crypto/verifier.js';
import { Chain } from '../chain.js';
import { networkDomain } from '../genesis-block.js';
import { ALC, type ChainSpec } from '../spec.js';
import { ChainStore } from '../store/chain-store.js';
import { signTx } from '../tx/sign.js';
import type { SignedTx } from '../tx/types.js';

export function testKey(n: number): Uint8Array {
  return fromHex('0x' + n.toString(16).padStart(64, '0'), 32);
}

export interface Wallet {
  key: Uint8Array;
  address: Address;
}

export function wallet(n: number): Wallet {
  const key = testKey(n);
  return { key, address: privateKeyToAddress(key) };
}

export function testSpec(coordinators: Address[], alloc: [Address, bigint][] = []): ChainSpec {
  return {
    chainId: 31337n,
    coordinators,
    alloc: new Map(alloc),
    blockPeriodMs: 1000,
    outOfTurnDelayMs: 500,
    genesisTimestamp: 1_700_000_000_000n,
    rewards: { contributionBase: ALC / 10n, minQuality: 1000, maxQuality: 10_000, inferenceShare: ALC / 20n, maxStaleness: 4n },
    model: 'ailo-tiny',
    genesisModelDigest: ('0x' + '00'.repeat(32)) as `0x${string}`,
  };
}

export function tempDir(prefix = 'ailo-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function openTestChain(spec: ChainSpec, dir: string, verifier: SignatureVerifier = new JsVerifier()): Promise<Chain> {
  const store = await ChainStore.open(dir);
  return Chain.open(store, spec, JSON.stringify({ test: true }), { verifier, now: () => 1n << 62n });
}

/** A transfer signed for the network `spec` defines. */
export function transfer(from: Wallet, to: Address, amount: bigint, nonce: bigint, spec: ChainSpec): SignedTx {
  return signTx({ type: 'transfer', from: from.address, to, amount, nonce }, from.key, networkDomain(spec));
}

/** The timestamp at which the next block may be sealed by an in-turn proposer. */
export function nextTimestamp(chain: Chain): bigint {
  return chain.head.header.timestamp + BigInt(chain.spec.blockPeriodMs);
}

/**
 * Test chains in temporary folders: `open` makes one, `cleanup` (for afterEach) closes every store still open and
 * removes the folders.
 */
export function testChains(spec: ChainSpec): { open: () => Promise<Chain>; cleanup: () => Promise<void> } {
  const opened: { chain: Chain; remove: () => void }[] = [];
  return {
    open: async () => {
      const t = tempDir();
      const chain = await openTestChain(spec, t.dir);
      opened.push({ chain, remove: t.remove });
      return chain;
    },
    cleanup: async () => {
      for (const { chain, remove } of opened.splice(0)) {
        await chain.store.close().catch(() => undefined); // a test may have closed it already
        remove();
      }
    },
  };
}
