/** An opened, verified shard set on disk, and exact reads of tokens by (shard, offset, length). */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DataError, DataErrorCode } from './errors.js';
import {
  batchLength,
  type BatchAddress,
  MANIFEST_FILE,
  parseShardManifest,
  type ShardEntry,
  type ShardManifest,
  type ShardSplit,
  type TokenBatch,
  tokensFromBytes,
} from './shard-format.js';

const HASH_CHUNK_BYTES = 4 << 20;

/**
 * `all` hashes every shard when the set is opened (the default); `lazy` hashes a shard on its first read, for
 * large sets of which a miner touches a few shards; `none` only checks that each file has the right size.
 */
export type ShardVerification = 'all' | 'lazy' | 'none';

export interface OpenShardSetOptions {
  verify?: ShardVerification;
}

function sha256File(path: string): string {
  const hash = createHash('sha256');
  const buffer = new Uint8Array(HASH_CHUNK_BYTES);
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

export class ShardSet {
  private readonly byName = new Map<string, ShardEntry>();
  private readonly verified = new Set<string>();

  constructor(
    readonly dir: string,
    readonly manifest: ShardManifest,
    /** sha256 of the manifest file: names this exact set of tokens. */
    readonly digest: string,
  ) {
    for (const shard of manifest.shards) this.byName.set(shard.name, shard);
  }

  get shards(): readonly ShardEntry[] {
    return this.manifest.shards;
  }

  /** The shards of one split, in manifest order. */
  split(split: ShardSplit): ShardEntry[] {
    return this.manifest.shards.filter((s) => s.split === split);
  }

  /** Tokens in one split. */
  splitTokens(split: ShardSplit): number {
    return this.split(split).reduce((sum, s) => sum + s.tokens, 0);
  }

  shard(name: string): ShardEntry {
    const shard = this.byName.get(name);
    if (!shard) {
      throw new DataError(DataErrorCode.UNKNOWN_SHARD, `shard ${JSON.stringify(name)} is not in the set at ${this.dir}`);
    }
    return shard;
  }

  /** Hashes a shard and compares it with the manifest (once per shard per opened set). */
  verifyShard(name: string): void {
    if (this.verified.has(name)) return;
    const shard = this.shard(name);
    const actual = sha256File(join(this.dir, shard.name));
    if (actual !== shard.sha256) {
      throw new DataError(
        DataErrorCode.DIGEST_MISMATCH,
        `shard ${shard.name} in ${this.dir} has sha256 ${actual} but the manifest says ${shard.sha256}; it is corrupt or was changed, rebuild or re-download it`,
      );
    }
    this.verified.add(name);
  }

  /** Marks shards hashed by `openShardSet`. */
  markVerified(name: string): void {
    this.verified.add(name);
  }

  /** Exactly `length` token ids starting at token `offset` of `shard`; a range past the shard's end is an error. */
  readTokens(shardName: string, offset: number, length: number): Uint16Array {
    const shard = this.shard(shardName);
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new DataError(DataErrorCode.OUT_OF_RANGE, `offset must be a non-negative integer, got ${offset}`);
    }
    if (!Number.isSafeInteger(length) || length < 1) {
      throw new DataError(DataErrorCode.OUT_OF_RANGE, `length must be a positive integer, got ${length}`);
    }
    if (offset + length > shard.tokens) {
      throw new DataError(
        DataErrorCode.OUT_OF_RANGE,
        `tokens [${offset}, ${offset + length}) reach past the end of shard ${shard.name}, which holds ${shard.tokens} tokens`,
      );
    }
    this.verifyShard(shard.name);
    const bytes = new Uint8Array(length * 2);
    const fd = openSync(join(this.dir, shard.name), 'r');
    try {
      let done = 0;
      while (done < bytes.length) {
        const n = readSync(fd, bytes, done, bytes.length - done, offset * 2 + done);
        if (n === 0) {
          throw new DataError(DataErrorCode.DIGEST_MISMATCH, `shard ${shard.name} in ${this.dir} is shorter than its manifest says`);
        }
        done += n;
      }
    } finally {
      closeSync(fd);
    }
    return tokensFromBytes(bytes);
  }

  /** The batch at an address: `batchSize` rows of `seqLen + 1` tokens laid end to end from `offset`. */
  readBatch(address: BatchAddress): TokenBatch {
    const length = batchLength(address.batchSize, address.seqLen);
    return {
      batchSize: address.batchSize,
      seqLen: address.seqLen,
      tokens: this.readTokens(address.shard, address.offset, length),
    };
  }
}

/**
 * Opens the shard set in `dir`: parses the manifest, checks every shard file is there with the right size, and
 * (by default) that its sha256 matches. Any problem is a `DataError` naming the shard.
 */
export async function openShardSet(dir: string, options: OpenShardSetOptions = {}): Promise<ShardSet> {
  const verify = options.verify ?? 'all';
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch {
    throw new DataError(
      DataErrorCode.BAD_MANIFEST,
      `no ${MANIFEST_FILE} in ${dir}; build the shards first (ailo-trainer shards --input ... --out ${dir})`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DataError(DataErrorCode.BAD_MANIFEST, `${join(dir, MANIFEST_FILE)} is not valid JSON (${(err as Error).message})`);
  }
  const manifest = parseShardManifest(json);
  const digest = createHash('sha256').update(text).digest('hex');
  const set = new ShardSet(dir, manifest, digest);
  for (const shard of manifest.shards) {
    const path = join(dir, shard.name);
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch {
      throw new DataError(DataErrorCode.MISSING_SHARD, `shard ${shard.name} named by the manifest is missing from ${dir}`);
    }
    if (size !== shard.tokens * 2) {
      throw new DataError(
        DataErrorCode.DIGEST_MISMATCH,
        `shard ${shard.name} in ${dir} is ${size} bytes but the manifest says ${shard.tokens} tokens (${shard.tokens * 2} bytes)`,
      );
    }
    if (verify === 'all') set.verifyShard(shard.name);
    else if (verify === 'none') set.markVerified(shard.name);
  }
  return set;
}
