/**
 * A node's data folder: `chain/` (LevelDB), `genesis.json` (the genesis it was created with) and, on a
 * coordinator, `coordinator.key` (hex private key, mode 0600). A fresh folder started without --genesis becomes
 * a new devnet whose coordinator is a key made on the spot. A node that is no coordinator keeps its peer identity in
 * `node.key` (made on first start, mode 0600); a coordinator's peer identity is its coordinator key.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Address } from '../protocol/address.js';
import { fromHex, isHex, toHex } from '../protocol/bytes.js';
import { privateKeyToAddress, randomPrivateKey } from '../protocol/signature.js';
import { genesisBlock } from '../chain/genesis-block.js';
import type { ChainSpec } from '../chain/spec.js';
import { devnetGenesis } from '../genesis/devnet.js';
import { formatGenesis, parseGenesis } from '../genesis/genesis.js';

export interface DataDirOptions {
  data: string;
  genesisFile?: string;
  coordinatorKeyFile?: string;
}

export interface PreparedDataDir {
  /** The data folder itself (--data). */
  dataDir: string;
  chainDir: string;
  genesisText: string;
  networkName: string;
  spec: ChainSpec;
  coordinator?: { key: Uint8Array; address: Address };
  /** The key this node signs its peer messages with; its address is the node id. Never logged. */
  nodeKey: { key: Uint8Array; address: Address };
  notes: string[];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function readKeyFile(path: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(`cannot read key file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const hex = text.startsWith('0x') ? text : `0x${text}`;
  if (!isHex(hex, 32)) throw new ConfigError(`key file ${path} must hold a 32-byte private key as 64 hex digits`);
  const key = fromHex(hex, 32);
  try {
    privateKeyToAddress(key);
  } catch {
    throw new ConfigError(`key file ${path} does not hold a valid secp256k1 private key`);
  }
  return key;
}

export function writeKeyFile(path: string, key: Uint8Array): void {
  writeFileSync(path, toHex(key) + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
}

function readGenesis(path: string): { text: string; parsed: ReturnType<typeof parseGenesis> } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read genesis file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return { text, parsed: parseGenesis(text) };
  } catch (err) {
    throw new ConfigError(`${path}: ${(err as Error).message}`);
  }
}

export function prepareDataDir(o: DataDirOptions): PreparedDataDir {
  mkdirSync(o.data, { recursive: true });
  const notes: string[] = [];
  const storedGenesisPath = join(o.data, 'genesis.json');
  const storedKeyPath = join(o.data, 'coordinator.key');

  let key: Uint8Array | undefined;
  if (o.coordinatorKeyFile) key = readKeyFile(o.coordinatorKeyFile);
  else if (existsSync(storedKeyPath)) key = readKeyFile(storedKeyPath);

  let genesisText: string;
  let parsed: ReturnType<typeof parseGenesis>;
  if (o.genesisFile) {
    ({ text: genesisText, parsed } = readGenesis(o.genesisFile));
    if (existsSync(storedGenesisPath)) {
      const stored = readGenesis(storedGenesisPath);
      if (genesisBlock(stored.parsed.spec).block.hash !== genesisBlock(parsed.spec).block.hash) {
        throw new ConfigError(
          `${o.data} holds the chain of another genesis (${storedGenesisPath}); use that genesis or another --data folder`,
        );
      }
    } else {
      writeFileSync(storedGenesisPath, genesisText);
    }
  } else if (existsSync(storedGenesisPath)) {
    ({ text: genesisText, parsed } = readGenesis(storedGenesisPath));
  } else {
    if (!key) {
      key = randomPrivateKey();
      writeKeyFile(storedKeyPath, key);
      notes.push(`created coordinator key ${storedKeyPath}`);
    }
    genesisText = formatGenesis(devnetGenesis(privateKeyToAddress(key), BigInt(Date.now())));
    parsed = parseGenesis(genesisText);
    writeFileSync(storedGenesisPath, genesisText);
    notes.push(`created a new devnet (chainId ${parsed.spec.chainId}) in ${o.data}`);
  }

  let coordinator: PreparedDataDir['coordinator'];
  if (key) {
    const address = privateKeyToAddress(key);
    if (parsed.spec.coordinators.includes(address)) coordinator = { key, address };
    else if (o.coordinatorKeyFile) throw new ConfigError(`--coordinator-key ${address} is not a coordinator of ${parsed.file.name}`);
    else notes.push(`the key in ${storedKeyPath} is not a coordinator of this chain; running as a follower`);
  }
  let nodeKey = coordinator;
  if (!nodeKey) {
    const nodeKeyPath = join(o.data, 'node.key');
    let k: Uint8Array;
    if (existsSync(nodeKeyPath)) k = readKeyFile(nodeKeyPath);
    else {
      k = randomPrivateKey();
      writeKeyFile(nodeKeyPath, k);
      notes.push(`created node key ${nodeKeyPath}`);
    }
    nodeKey = { key: k, address: privateKeyToAddress(k) };
  }
  return {
    dataDir: o.data,
    chainDir: join(o.data, 'chain'),
    genesisText,
    networkName: parsed.file.name,
    spec: parsed.spec,
    coordinator,
    nodeKey,
    notes,
  };
}
