/**
 * The pending transactions a node holds when it stops, kept across the restart, as geth journals its local
 * transactions (`transactions.rlp`): written at a graceful stop (after the services have settled what they owe, e.g.
 * the inference rewards held in escrow), submitted again at the next start, then deleted. Each one is checked again as
 * if it were new: one that a block or another transaction made invalid meanwhile (already sealed, nonce used) is left
 * out and logged. A crash (kill -9) writes no journal; the services that must survive one keep their own (the
 * training round's `federation/open-round/`).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import writeFileAtomic from 'write-file-atomic';
import { fromHex, toHex } from '../protocol/bytes.js';
import { TxError, TxErrorCode } from '../chain/errors.js';
import { decodeTx } from '../chain/tx/codec.js';
import type { SignedTx } from '../chain/tx/types.js';
import type { LedgerService } from './ledger-service.js';

interface JournalFile {
  version: 1;
  /** Canonical signed transaction bytes, 0x hex, in pool order. */
  txs: string[];
}

/** Writes `txs` (the pool's pending transactions, oldest first) to `path`, atomically; removes the file when there are none. */
export function savePoolJournal(path: string, txs: readonly SignedTx[]): void {
  if (txs.length === 0) {
    rmSync(path, { force: true });
    return;
  }
  const file: JournalFile = { version: 1, txs: txs.map((t) => toHex(t.bytes)) };
  writeFileAtomic.sync(path, JSON.stringify(file));
}

/**
 * Submits the journaled transactions at `path` again, in their order, and deletes the journal. Returns how many the
 * pool took back and how many were left out (already in a block, or no longer valid: each logged with the ledger's
 * reason). A journal that does not parse is set aside as `path.bad` and logged, never fatal.
 */
export async function replayPoolJournal(
  path: string,
  ledger: LedgerService,
  log: (line: string) => void,
): Promise<{ restored: number; dropped: number }> {
  if (!existsSync(path)) return { restored: 0, dropped: 0 };
  let txs: SignedTx[];
  try {
    const file = JSON.parse(readFileSync(path, 'utf8')) as JournalFile;
    if (file.version !== 1 || !Array.isArray(file.txs)) throw new Error(`unknown journal version ${String(file.version)}`);
    txs = file.txs.map((hex) => decodeTx(fromHex(hex as `0x${string}`)));
  } catch (err) {
    log(`pool journal: ${path} does not parse (${(err as Error).message}); set aside as ${path}.bad`);
    writeFileAtomic.sync(`${path}.bad`, readFileSync(path));
    rmSync(path, { force: true });
    return { restored: 0, dropped: 0 };
  }
  let restored = 0;
  let dropped = 0;
  for (const tx of txs) {
    try {
      await ledger.submit(tx);
      restored++;
    } catch (err) {
      dropped++;
      // Already sealed, or already taken back by a service's own journal: nothing is lost.
      if (err instanceof TxError && err.code === TxErrorCode.DUPLICATE) continue;
      log(`pool journal: left out ${tx.hash} (${tx.tx.type}): ${(err as Error).message}`);
    }
  }
  rmSync(path, { force: true });
  if (restored > 0) log(`pool journal: ${restored} pending transaction(s) from before the restart are pending again`);
  return { restored, dropped };
}
