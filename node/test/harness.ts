/** Test harness: a real node on loopback with a genesis that funds known wallets, and an EIP-712 wallet signer. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import type { Address } from '../../protocol/address.js';
import { toHex } from '../../protocol/bytes.js';
import { networkDomain } from '../../chain/genesis-block.js';
import { EIP712_TYPES, eip712Domain, type NetworkDomain } from '../../chain/tx/eip712.js';
import { ALC } from '../../chain/spec.js';
import { genesisFor } from '../../genesis/devnet.js';
import { formatGenesis, parseGenesis } from '../../genesis/genesis.js';
import { testKey, wallet } from '../../chain/test/fixtures.js';
import { randomPrivateKey } from '../../protocol/signature.js';
import { AiloNode, type NodeOptions } from '../node.js';
import { NodeIdentity } from '../p2p/envelope.js';
import type { TransferBody as WireTransferBody } from '../../protocol/ledger.js';

export const CHAIN_ID = 777n;
export const coordinator = wallet(101);
export const alice = wallet(102);
export const bob = wallet(103);

export interface TestNet {
  root: string;
  genesisPath: string;
  keyPath: string;
  /** What signatures for this net are bound to (its chainId and genesis hash). */
  network: NetworkDomain;
  remove: () => void;
}

/** The network a genesis file's text defines, as a wallet signs for it. */
export function networkOfGenesis(genesisText: string): NetworkDomain {
  return networkDomain(parseGenesis(genesisText).spec);
}

/**
 * A folder with a genesis (one coordinator, Alice funded with 1000 ALC, a short block period) and the coordinator key.
 * `extraAlloc` funds more accounts: a second net with the same chainId and another genesis.
 */
/** A one-coordinator test network; `model` names the genesis model config (default the devnet's, ailo-tiny). */
export function testNet(periodMs = 50, o: { extraAlloc?: [Address, bigint][]; model?: string } = {}): TestNet {
  const root = mkdtempSync(join(tmpdir(), 'ailo-node-'));
  const genesis = genesisFor({
    name: 'ailo-test',
    chainId: CHAIN_ID,
    coordinators: [coordinator.address],
    alloc: new Map([[alice.address, 1000n * ALC], [coordinator.address, 10n * ALC], ...(o.extraAlloc ?? [])]),
    blockPeriodMs: periodMs,
    outOfTurnDelayMs: periodMs,
    timestamp: 1_700_000_000_000n,
    model: o.model,
  });
  const genesisPath = join(root, 'genesis.json');
  const genesisText = formatGenesis(genesis);
  writeFileSync(genesisPath, genesisText);
  const keyPath = join(root, 'coordinator.key');
  writeFileSync(keyPath, toHex(coordinator.key));
  return {
    root,
    genesisPath,
    keyPath,
    network: networkOfGenesis(genesisText),
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}

export async function startTestNode(net: TestNet, data = join(net.root, 'data'), extra: Partial<NodeOptions> = {}): Promise<AiloNode> {
  return AiloNode.start({
    data,
    host: '127.0.0.1',
    port: 0,
    genesisFile: net.genesisPath,
    coordinatorKeyFile: net.keyPath,
    log: () => {},
    ...extra,
  });
}

/** The wire's transfer body, with the network fields optional: tests also send bodies that leave them out. */
export type TransferBody = Omit<WireTransferBody, 'chainId' | 'genesisHash'> & Partial<Pick<WireTransferBody, 'chainId' | 'genesisHash'>>;

/**
 * Signs a transfer the way a wallet does (ethers' signTypedData over the EIP-712 domain and Transfer type), and names
 * the network it signed for in the body as the wallet UI does.
 */
export async function signedTransfer(
  fromKeyNumber: number,
  to: Address,
  amount: bigint,
  nonce: bigint,
  network: NetworkDomain,
): Promise<TransferBody> {
  const w = new Wallet(toHex(testKey(fromKeyNumber)));
  const message = { from: w.address, to, amount, nonce };
  const signature = await w.signTypedData(eip712Domain(network), { Transfer: [...EIP712_TYPES.Transfer] }, message);
  return {
    from: w.address,
    to,
    amount: amount.toString(),
    nonce: nonce.toString(),
    signature,
    chainId: network.chainId.toString(),
    genesisHash: network.genesisHash,
  };
}

export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<{ status: number; json: any }> {
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

/**
 * Waits until a node's chain is at rest: nothing pending, and its transactions final (the last block is the
 * empty one a coordinator seals so finality can reach them), so a test can then assert that nothing changes. Waits up
 * to 60 s: in the full suite, beside the trainer's tests on 2 cores, a partitioned network once took more than 20 s.
 */
export async function waitQuiet(url: string): Promise<void> {
  let seen = '';
  try {
    await waitFor(
      `${url} to be at rest`,
      async () => {
        const status = (await get(`${url}/api/status`)).json;
        const head = (await get(`${url}/api/chain/head`)).json;
        seen = `pending ${status.pendingTransactions}, head ${head.height} with ${head.txCount} transactions, finalized ${head.finalizedHeight}`;
        const quiet = status.pendingTransactions === 0 && head.txCount === 0 && BigInt(head.finalizedHeight) >= BigInt(head.height) - 1n;
        return quiet ? true : undefined;
      },
      60_000,
    );
  } catch (err) {
    // Which condition held it up, for the next time it happens.
    throw new Error(`${(err as Error).message} (last seen: ${seen})`);
  }
}

/** A peer identity made up by a test: a fresh key claiming `url`, for the network of `node`. */
export function testPeer(node: AiloNode, url: string, key: Uint8Array = randomPrivateKey(), now?: () => number): NodeIdentity {
  return new NodeIdentity(key, url, node.network.identity.domain, now);
}

/** POSTs gossip to `node` signed by `as` (or unsigned when `as` is undefined), with any extra headers. */
export async function gossipTo(
  node: AiloNode,
  path: string,
  body: Uint8Array,
  as: NodeIdentity | undefined,
  extra: Record<string, string> = {},
): Promise<{ status: number; json: any }> {
  const headers = { 'content-type': 'application/octet-stream', ...extra, ...(as ? as.sign('POST', node.url, path, body) : {}) };
  const res = await fetch(node.url + path, { method: 'POST', headers, body: new Uint8Array(body) });
  return { status: res.status, json: await res.json() };
}
