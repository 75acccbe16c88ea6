/** `ailo genesis new`: a new network's genesis with fresh coordinator keys, written to a folder. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateKeyToAddress } from '../../protocol/signature.js';
import { toChecksumAddress } from '../../protocol/address.js';
import { newNetwork, randomChainId } from '../../genesis/devnet.js';
import { parseGenesis } from '../../genesis/genesis.js';
import { writeKeyFile } from '../data-dir.js';

/**
 * Without --chain-id the chainId is drawn at random, so two networks made this way do not share one. (Signatures are
 * bound to the genesis hash as well, so a shared chainId is no replay risk; a distinct one keeps wallets apart.)
 */
export function genesisNewCommand(o: {
  out: string;
  name: string;
  chainId?: string;
  coordinators: string;
  periodMs: string;
  model: string;
}): void {
  const count = Number(o.coordinators);
  if (!Number.isInteger(count) || count < 1 || count > 64) throw new Error('--coordinators must be 1..64');
  if (o.chainId !== undefined && !/^[1-9][0-9]{0,18}$/.test(o.chainId)) throw new Error('--chain-id must be a positive integer');
  const chainId = o.chainId !== undefined ? BigInt(o.chainId) : randomChainId();
  const period = Number(o.periodMs);
  if (existsSync(join(o.out, 'genesis.json'))) throw new Error(`${o.out}/genesis.json exists; choose another --out`);
  const { genesis, keys } = newNetwork({
    name: o.name,
    chainId,
    coordinatorCount: count,
    blockPeriodMs: period,
    outOfTurnDelayMs: Math.ceil(period / 2),
    timestamp: BigInt(Date.now()),
    model: o.model,
  });
  parseGenesis(genesis); // the file we write must be one the node accepts
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, 'genesis.json'), genesis);
  keys.forEach((k, i) => writeKeyFile(join(o.out, `coordinator-${i + 1}.key`), k));
  console.log(
    `wrote ${join(o.out, 'genesis.json')} (chainId ${chainId}${o.chainId === undefined ? ', drawn at random' : ''}, ${count} coordinator(s)):`,
  );
  keys.forEach((k, i) => console.log(`  ${join(o.out, `coordinator-${i + 1}.key`)}  ${toChecksumAddress(privateKeyToAddress(k))}`));
  console.log('keep the key files secret; start each coordinator with --genesis and its --coordinator-key');
}
