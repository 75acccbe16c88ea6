/** Test harness: a real node on loopback with a genesis that funds known wallets, and an EIP-712 wallet signer. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import type { Address } from '../../chain/address.js';
import { toHex } from '../../chain/bytes.js';
import { EIP712_TYPES, eip712Domain } from '../../chain/tx/eip712.js';
import { ALC } from '../../chain/spec.js';
import { genesisFor } from '../../genesis/devnet.js';
import { formatGenesis } from '../../genesis/genesis.js';
import { testKey, wallet } from '../../chain/test/fixtures.js';
import { AiloNode, type NodeOptions } from '../node.js';

export const CHAIN_ID = 777n;
export const coordinator = wallet(101);
export const alice = wallet(102);
export const bob = wallet(103);

export interface TestNet {
  root: string;
  genesisPath: string;
  keyPath: string;
  remove: () => void;
}

/** A folder with a genesis (one coordinator, Alice funded with 1000 ALC, a short block period) and the coordinator key. */
export function testNet(periodMs = 50): TestNet {
  const root = mkdtempSync(join(tmpdir(), 'ailo-node-'));
  const genesis = genesisFor({
    name: 'ailo-test', chainId: CHAIN_ID, coordinators: [coordinator.address],
    alloc: new Map([[alice.address, 1000n * ALC], [coordinator.address, 10n * ALC]]), blockPeriodMs: periodMs, outOfTurnDelayMs: periodMs,
    timestamp: 1_700_000_000_000n,
  });
  const genesisPath = join(root, 'genesis.json');
  writeFileSync(genesisPath, formatGenesis(genesis));
  const keyPath = join(root, 'coordinator.key');
  writeFileSync(keyPath, toHex(coordinator.key));
  return { root, genesisPath, keyPath, remove: () => rmSync(root, { recursive: true, force: true }) };
}

export async function startTestNode(net: TestNet, data = join(net.root, 'data'), extra: Partial<NodeOptions> = {}): Promise<AiloNode> {
  return AiloNode.start({ data, host: '127.0.0.1', port: 0, genesisFile: net.genesisPath, coordinatorKeyFile: net.keyPath, log: () => {}, ...extra });
}

export interface TransferBody {
  from: string;
  to: string;
  amount: string;
  nonce: string;
  signature: string;
}

/** Signs a transfer the way a wallet does (ethers' signTypedData over the EIP-712 domain and Transfer type). */
export async function signedTransfer(fromKeyNumber: number, to: Address, amount: bigint, nonce: bigint, chainId = CHAIN_ID): Promise<TransferBody> {
  const w = new Wallet(toHex(testKey(fromKeyNumber)));
  const message = { from: w.address, to, amount, nonce };
  const signature = await w.signTypedData(eip712Domain(chainId), { Transfer: [...EIP712_TYPES.Transfer] }, message);
  return { from: w.address, to, amount: amount.toString(), nonce: nonce.toString(), signature };
}

export async function post(url: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<{ status: number; json: any }> {
  const res = await fetch(url, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

export async function get(url: string): Promise<{ status: number; json: any }> {
  const res = await fetch(url);
  return { status: res.status, json: await res.json() };
}

/** Polls until `check` returns a value, failing after the deadline with `what`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, deadlineMs = 20_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
