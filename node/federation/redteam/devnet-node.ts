/**
 * The target of a red-team run: a real node on loopback running the built-in devnet (ailo-tiny, its own fresh
 * coordinator key and genesis, LevelDB) in a temporary data folder, coordinating federated rounds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FederationConfig } from '../service.js';
import { AiloNode } from '../../node.js';

/** The devnet's federation settings, with rounds of two so that versions (and their resale) come quickly. */
export const REDTEAM_FEDERATION = { roundSize: 2, tasksPerWallet: 8, maxStaleness: 2 } as const satisfies Partial<FederationConfig>;

export interface RedTeamTarget {
  node: AiloNode;
  url: string;
  /** The data folder; removed by `stop` unless `keep` was set. */
  dataDir: string;
  stop: () => Promise<void>;
}

export async function startDevnetTarget(o: {
  federation: Partial<FederationConfig>;
  log?: (line: string) => void;
  keep?: boolean;
}): Promise<RedTeamTarget> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ailo-redteam-'));
  let node: AiloNode;
  try {
    node = await AiloNode.start({ data: dataDir, host: '127.0.0.1', port: 0, log: o.log ?? (() => {}), federation: o.federation });
  } catch (err) {
    if (!o.keep) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  if (!node.federation) throw new Error('the devnet node does not coordinate rounds');
  return {
    node,
    url: node.url,
    dataDir,
    stop: async () => {
      await node.stop();
      if (!o.keep) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
