/**
 * The open round on disk: each accepted submission's signed contribution transaction and update bytes, written
 * (and synced) before the contribution goes to the ledger and removed once a model version aggregates it. A
 * coordinator that crashes mid-round restarts with the same round: no accepted contribution is lost, none is paid
 * twice (the same signed transaction is re-submitted, and the ledger refuses duplicates).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Address } from '../../protocol/address.js';
import { fromHex, toHex } from '../../protocol/bytes.js';
import type { Hash } from '../../chain/tx/types.js';
import writeFileAtomic from 'write-file-atomic';

export interface JournalEntry {
  contribution: Hash;
  /** The signed contribution transaction, canonical bytes. */
  tx: Uint8Array;
  update: Uint8Array;
  wallet: Address;
  tokens: number;
  digest: string;
}

export class RoundJournal {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  add(e: JournalEntry): void {
    writeFileAtomic.sync(
      join(this.dir, `${e.contribution}.update`),
      Buffer.from(e.update.buffer, e.update.byteOffset, e.update.byteLength),
    );
    const meta = { contribution: e.contribution, tx: toHex(e.tx), wallet: e.wallet, tokens: e.tokens, digest: e.digest };
    writeFileAtomic.sync(join(this.dir, `${e.contribution}.json`), JSON.stringify(meta));
  }

  /** Moves an entry to `to` (a folder on the same file system): the update first, so a crash leaves no metadata without it. */
  moveTo(to: RoundJournal, contribution: Hash): void {
    for (const ext of ['update', 'json']) {
      const from = join(this.dir, `${contribution}.${ext}`);
      if (existsSync(from)) renameSync(from, join(to.dir, `${contribution}.${ext}`));
    }
  }

  has(contribution: Hash): boolean {
    return existsSync(join(this.dir, `${contribution}.json`));
  }

  remove(contribution: Hash): void {
    rmSync(join(this.dir, `${contribution}.json`), { force: true });
    rmSync(join(this.dir, `${contribution}.update`), { force: true });
  }

  /** Every whole entry; a half-written one (crash between its two files) is dropped, as its contribution never left. */
  entries(): JournalEntry[] {
    const out: JournalEntry[] = [];
    for (const name of readdirSync(this.dir)) {
      if (name.endsWith('.tmp')) {
        rmSync(join(this.dir, name), { force: true });
        continue;
      }
      if (!name.endsWith('.json')) continue;
      const meta = JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as {
        contribution: Hash;
        tx: string;
        wallet: Address;
        tokens: number;
        digest: string;
      };
      const updatePath = join(this.dir, `${meta.contribution}.update`);
      if (!existsSync(updatePath)) {
        this.remove(meta.contribution);
        continue;
      }
      out.push({ ...meta, tx: fromHex(meta.tx), update: new Uint8Array(readFileSync(updatePath)) });
    }
    for (const name of readdirSync(this.dir)) {
      // an update whose metadata never got written: its contribution was never submitted
      if (name.endsWith('.update') && !existsSync(join(this.dir, name.replace(/\.update$/, '.json'))))
        rmSync(join(this.dir, name), { force: true });
    }
    return out;
  }
}
