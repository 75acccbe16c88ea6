/**
 * Every coordinator checks every model version (issue 13). A coordinator keeps the model chain in its own
 * `federation/` folder: before a block holding a `model_version` is committed, the version is recomputed from its
 * parent's weights and momentum, the updates its contributions name and the outer step it records (`replayVersion`,
 * the same function `ailo audit --models` uses), and the block is refused (BLOCK_MODEL_MISMATCH) when the manifest
 * digest differs. A recomputed version is written like a published one (chunks, signed manifest, momentum), so the
 * coordinator can serve it and take over the rounds from it.
 *
 * Accepted update bytes are replicated as soon as their `contribution` is seen (in the pool or a block): fetched by
 * digest from the coordinator that signed it (its proven peer URL), else from any peer, checked against the digest,
 * kept in `federation/updates/` and served at GET /api/update/:digest. A block check runs under the chain's lock, so
 * it never waits on the network: a version whose updates are not kept here yet is not judged (BLOCK_MODEL_UNCHECKED
 * at once, no peer blamed; the fetch goes on in the background and the block is tried again at the next sync). Each
 * signing coordinator's fetches queue on their own, and an update no peer served is not asked for again for a while,
 * so a coordinator whose server never answers delays no one else's updates and no block import.
 *
 * The block producer seals a pool's `model_version` only once it has been recomputed here (`admissible`); one that
 * does not recompute is dropped from the pool.
 */
import type { Block } from '../../chain/block/block.js';
import type { Chain } from '../../chain/chain.js';
import { BlockError, BlockErrorCode } from '../../chain/errors.js';
import { StateOverlay } from '../../chain/state/world-state.js';
import type { ContributionTx, Hash, ModelVersionTx, SignedTx } from '../../chain/tx/types.js';
import type { Address } from '../../protocol/address.js';
import type { Hex } from '../../protocol/bytes.js';
import type { TensorSizes } from '../../trainer/codec/update-codec.js';
import { numel, paramCount, paramSpecs, presetConfig, type ModelConfig } from '../../trainer/model/config.js';
import { httpUpdates } from '../audit-sources.js';
import type { LedgerService } from '../ledger-service.js';
import type { PeerNetwork } from '../p2p/network.js';
import { replayVersion, UpdateSourceError } from './model-audit.js';
import { makeGenesisVersion, ModelStore, sha256Hex } from './model-store.js';

/** What the recomputation of one `model_version` found. */
export type VersionVerdict =
  | { status: 'ok' }
  /** The record is wrong: its weights do not recompute to its digest, or it names what is not there. */
  | { status: 'mismatch'; why: string }
  /** Not judged: an update or the parent could not be had here; tried again later. */
  | { status: 'unchecked'; why: string };

/** How long a version that could not be checked waits before the pool's copy is tried again. */
const RECHECK_MS = 5_000;
/**
 * How long a pool's version may stay unchecked before it is dropped (with what depends on it): its updates are not to
 * be had (its coordinator died before they were copied, or never served them), and the round is closed again.
 */
const UNCHECKED_DROP_MS = 60_000;
/** Updates of one signing coordinator fetched from peers at once (each signer queues on its own). */
const FETCH_CONCURRENCY = 2;
/** Settled verdicts remembered (by transaction hash). */
const MAX_VERDICTS = 1_000;
/** One peer's answer for one update, at most (a block check waits on it). */
const FETCH_TIMEOUT_MS = 20_000;
/** How long an update no peer served is not asked for again (a block or pool check then finds it unchecked at once). */
const FAILED_FETCH_MS = 10_000;
/** Fetches from one source that may wait for a turn; more are refused at once (and asked for again when needed). */
const MAX_WAITING = 64;

export interface ModelReplicaOptions {
  /** This coordinator's `federation/` folder (shared with its FederationService when it runs the rounds). */
  store: ModelStore;
  ledger: LedgerService;
  network: () => PeerNetwork | undefined;
  key: Uint8Array;
  coordinator: Address;
  /** How many versions back are kept (the rounds' maxStaleness). */
  keepVersions: number;
  /** The most bytes an accepted update can have (FederationService.maxUpdateBytes); larger answers are not read. */
  maxUpdateBytes?: () => number | undefined;
  log: (line: string) => void;
  /** Told when a pool `model_version` has been recomputed (the block producer can seal it now). */
  onChecked?: () => void;
}

export class ModelReplica {
  private readonly cfg: ModelConfig;
  private readonly sizes: TensorSizes;
  private readonly maxUpdateBytes: number;
  /** Checks under way and settled verdicts, by `${tx hash}:${parent digest}` (a verdict holds for that parent only). */
  private readonly checks = new Map<string, Promise<VersionVerdict>>();
  private readonly verdicts = new Map<string, VersionVerdict>();
  /** When a pool version was first found unchecked. */
  private readonly uncheckedSince = new Map<Hash, number>();
  /** Pool checks in flight, and the versions with a retry timer set, by transaction hash. */
  private readonly poolChecks = new Map<Hash, Promise<void>>();
  private readonly retries = new Set<Hash>();
  /** Update fetches by the coordinator that signed the contribution: how many run, and who waits. */
  private readonly fetchQueues = new Map<Address, { running: number; waiting: (() => void)[] }>();
  private readonly fetches = new Map<string, Promise<Uint8Array>>();
  /** Updates no peer served, by digest: when, and why. */
  private readonly failedFetches = new Map<string, { at: number; why: string }>();

  /** One recomputation at a time: each builds on the version the one before wrote. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly unsubscribe: (() => void)[] = [];
  private stopped = false;

  constructor(private readonly o: ModelReplicaOptions) {
    this.cfg = presetConfig(o.ledger.chain.spec.model);
    this.sizes = new Map(paramSpecs(this.cfg).map((s) => [s.name, numel(s.shape)]));
    this.maxUpdateBytes = 4 * paramCount(this.cfg) + 1024 * 1024;
  }

  /** Where the model chain is kept (and the updates served from). */
  get store(): ModelStore {
    return this.o.store;
  }

  private get chain(): Chain {
    return this.o.ledger.chain;
  }

  /** Checks every block before it is committed, follows the pool, and replicates updates as contributions appear. */
  start(): void {
    this.chain.setBlockCheck((block) => this.checkBlock(block));
    this.unsubscribe.push(
      this.o.ledger.onAdded((tx) => this.seen(tx)),
      this.chain.onBlock((block) => block.txs.forEach((tx) => this.seen(tx, block))),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.chain.setBlockCheck(undefined);
    this.unsubscribe.forEach((u) => u());
    for (const t of this.timers) clearTimeout(t);
    await this.queue.catch(() => undefined);
  }

  private seen(tx: SignedTx, block?: Block): void {
    if (this.stopped) return;
    // This coordinator's own contributions, and those seen before (pool, then block): their updates are kept already.
    if (
      tx.tx.type === 'contribution' &&
      tx.tx.coordinator !== this.o.coordinator &&
      !this.o.store.hasUpdate(tx.tx.gradientDigest.slice(2))
    ) {
      const c = tx.tx;
      void this.update(c).catch((err: Error) =>
        this.o.log(`model replica: update ${c.gradientDigest.slice(0, 14)} of contribution ${tx.hash} not replicated yet: ${err.message}`),
      );
    } else if (tx.tx.type === 'model_version' && !block) void this.poolCheck(tx);
  }

  /**
   * Whether the block producer may seal `tx` now: anything but a `model_version`, or one recomputed here and found as
   * recorded. A `model_version` not judged yet has its check started.
   */
  admissible(tx: SignedTx): boolean {
    if (tx.tx.type !== 'model_version') return true;
    const v = tx.tx.version - 1n;
    const parent = v === 0n ? this.chain.spec.genesisModelDigest : this.o.ledger.pool.pendingState.modelVersion(v)?.manifestDigest;
    const verdict = this.verdicts.get(`${tx.hash}:${parent}`);
    if (!verdict || verdict.status === 'unchecked') void this.poolCheck(tx);
    return verdict?.status === 'ok' && this.o.store.load(Number(tx.tx.version))?.manifestDigest === tx.tx.manifestDigest;
  }

  /**
   * Recomputes a pool `model_version`; one that does not match is dropped, one not judged is tried again later and
   * dropped after UNCHECKED_DROP_MS.
   */
  private poolCheck(tx: SignedTx): Promise<void> {
    // One check (and one retry timer) per version at a time, however often the producer asks.
    let running = this.poolChecks.get(tx.hash);
    if (!running) {
      running = this.runPoolCheck(tx)
        // A node stopping mid-check closes its store under it: nothing to say then. Never an unhandled rejection.
        .catch((err: Error) => {
          if (!this.stopped) this.o.log(`model replica: checking pool version ${tx.hash}: ${err.message}`);
        })
        .finally(() => this.poolChecks.delete(tx.hash));
      this.poolChecks.set(tx.hash, running);
    }
    return running;
  }

  private async runPoolCheck(tx: SignedTx): Promise<void> {
    const mv = tx.tx as ModelVersionTx;
    // The updates are fetched first, outside the recomputation queue (which block checks wait on), from the
    // version's signer first: it aggregated them, so it holds them all.
    await Promise.allSettled(
      mv.contributions.map(async (h) => {
        const c = await this.contribution(h);
        if (c) await this.update(c, mv.coordinator);
      }),
    );
    if (this.stopped) return;
    const verdict = await this.check(tx);
    if (this.stopped) return;
    if (verdict.status === 'ok') {
      this.uncheckedSince.delete(tx.hash);
      this.o.onChecked?.();
    } else if (verdict.status === 'mismatch') {
      this.uncheckedSince.delete(tx.hash);
      this.o.log(`model replica: refusing model version ${mv.version} (${tx.hash}) signed by ${mv.coordinator}: ${verdict.why}`);
      this.o.ledger.drop(tx.hash, `model version ${mv.version} does not recompute`);
    } else if (this.o.ledger.pool.get(tx.hash)) {
      const since = this.uncheckedSince.get(tx.hash) ?? Date.now();
      this.uncheckedSince.set(tx.hash, since);
      if (Date.now() - since >= UNCHECKED_DROP_MS) {
        this.uncheckedSince.delete(tx.hash);
        this.o.log(
          `model replica: dropping model version ${mv.version} (${tx.hash}): unchecked for ${UNCHECKED_DROP_MS / 1000} s (${verdict.why})`,
        );
        this.o.ledger.drop(tx.hash, `model version ${mv.version} could not be recomputed`);
        return;
      }
      this.o.log(`model replica: model version ${mv.version} not checked yet (${verdict.why}); trying again in ${RECHECK_MS / 1000} s`);
      if (this.retries.has(tx.hash)) return;
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.retries.delete(tx.hash);
        if (this.o.ledger.pool.get(tx.hash)) void this.poolCheck(tx);
        else this.uncheckedSince.delete(tx.hash);
      }, RECHECK_MS);
      this.timers.add(t);
      this.retries.add(tx.hash);
    } else this.uncheckedSince.delete(tx.hash);
  }

  /** The block check (Chain.setBlockCheck): every `model_version` in `block` must recompute to its digest. */
  private async checkBlock(block: Block): Promise<void> {
    for (const tx of block.txs) {
      if (tx.tx.type !== 'model_version') continue;
      const verdict = await this.check(tx, block);
      if (verdict.status === 'ok') continue;
      const what = `block ${block.header.height} (sealed by ${block.header.proposer}) holds model version ${tx.tx.version}`;
      if (verdict.status === 'mismatch')
        throw new BlockError(BlockErrorCode.MODEL_MISMATCH, `${what}, which does not recompute: ${verdict.why}`, block.header.height);
      throw new BlockError(
        BlockErrorCode.MODEL_UNCHECKED,
        `${what}, which this coordinator could not recompute yet (${verdict.why}); it is tried again at the next sync`,
        block.header.height,
      );
    }
  }

  /**
   * The verdict on one `model_version` in a context: in `block` (its parent as that block's chain records it) or in the
   * pool (the parent as the pool's view records it). Remembered by transaction and parent digest; an unchecked one is
   * tried again next time, and an `ok` one only while the store still holds that version.
   */
  async check(tx: SignedTx, block?: Block): Promise<VersionVerdict> {
    const mv = tx.tx as ModelVersionTx;
    const parent = await this.record(Number(mv.version) - 1, block);
    const key = `${tx.hash}:${parent?.manifestDigest}`;
    const known = this.verdicts.get(key);
    if (known?.status === 'mismatch') return known;
    if (known?.status === 'ok' && this.o.store.load(Number(mv.version))?.manifestDigest === mv.manifestDigest) return known;
    let running = this.checks.get(key);
    if (!running) {
      const run = this.queue.then(() => this.recompute(mv, block));
      this.queue = run.catch(() => undefined);
      running = run
        .catch((err: Error): VersionVerdict => ({ status: 'unchecked', why: err.message }))
        .then((verdict) => {
          this.checks.delete(key);
          if (this.verdicts.size >= MAX_VERDICTS) this.verdicts.delete(this.verdicts.keys().next().value!);
          this.verdicts.set(key, verdict);
          return verdict;
        });
      this.checks.set(key, running);
    }
    return running;
  }

  /**
   * The ledger's record of version `v` in a context: version 0 is the genesis's; in a block check, an earlier
   * `model_version` of `block` or the chain's record (the state the block applies to); in the pool, the pool's view.
   */
  private async record(v: number, block?: Block): Promise<{ manifestDigest: Hex; tx?: ModelVersionTx } | undefined> {
    if (v === 0) return { manifestDigest: this.chain.spec.genesisModelDigest };
    for (const { tx } of block?.txs ?? [])
      if (tx.type === 'model_version' && tx.version === BigInt(v)) return { manifestDigest: tx.manifestDigest, tx };
    const entry = (block ? new StateOverlay(this.chain.state) : this.o.ledger.pool.pendingState).modelVersion(BigInt(v));
    if (!entry) return undefined;
    const tx = this.o.ledger.pool.get(entry.txHash)?.tx ?? (await this.chain.txByHash(entry.txHash))?.tx.tx;
    return { manifestDigest: entry.manifestDigest, tx: tx?.type === 'model_version' ? tx : undefined };
  }

  /**
   * Recomputes `mv` from its parent as kept here (recomputing the parent first, from the chain's records, when it is
   * not), writes the result as version `mv.version` and says whether its digest is the recorded one.
   */
  private async recompute(mv: ModelVersionTx, block?: Block, force = false): Promise<VersionVerdict> {
    const version = Number(mv.version);
    if (!force && this.o.store.load(version)?.manifestDigest === mv.manifestDigest) return { status: 'ok' };
    const parent = await this.parentOf(version, !(mv.momentumRestart || mv.outerLrPpm === 0), block);
    if ('why' in parent) return { status: 'unchecked', why: parent.why };
    const contributions = new Map<Hash, ContributionTx>();
    for (const hash of mv.contributions) {
      const c = await this.contribution(hash, block);
      if (c) contributions.set(hash, c);
    }
    let result: Awaited<ReturnType<typeof replayVersion>>;
    try {
      result = await replayVersion(
        this.chain.spec.model,
        this.cfg,
        this.sizes,
        parent,
        mv,
        (h) => contributions.get(h),
        async (digest) => this.localUpdate(this.contributionByDigest(contributions, digest), mv.coordinator),
      );
    } catch (err) {
      if (err instanceof UpdateSourceError) return { status: 'unchecked', why: err.message };
      throw err;
    }
    if ('why' in result) return { status: 'mismatch', why: result.why };
    this.o.store.publish(this.chain.spec.model, this.cfg, version, result.weights, this.o.key, this.o.coordinator);
    this.o.store.saveMomentum(version, this.cfg, result.momentum);
    this.o.store.prune(version - this.o.keepVersions);
    this.o.log(`model replica: recomputed model version ${version} from ${mv.contributions.length} updates: ${result.digest}, as recorded`);
    return { status: 'ok' };
  }

  private contributionByDigest(contributions: Map<Hash, ContributionTx>, digest: Hex): ContributionTx {
    for (const c of contributions.values()) if (c.gradientDigest === digest) return c;
    throw new Error(`no contribution records update ${digest}`);
  }

  /**
   * Version `version - 1`'s weights (and momentum, when `needsMomentum`) as kept here; made (version 0) or
   * recomputed from the ledger's record (in the same context) when missing or another try of that version.
   */
  private async parentOf(
    version: number,
    needsMomentum: boolean,
    block?: Block,
  ): Promise<{ weights: Map<string, Float32Array>; momentum: Map<string, Float32Array> | undefined } | { why: string }> {
    const v = version - 1;
    const record = await this.record(v, block);
    if (!record) return { why: `version ${v} is not recorded by the ledger` };
    const unsetGenesis = v === 0 && /^0x0{64}$/.test(record.manifestDigest);
    let signed = this.o.store.load(v);
    if (signed && !unsetGenesis && signed.manifestDigest !== record.manifestDigest) signed = undefined;
    if (!signed && v === 0) {
      signed = makeGenesisVersion(this.o.store, this.chain.spec.model, this.cfg, this.o.key, this.o.coordinator, (line) =>
        this.o.log(`model replica: ${line}`),
      ).signed;
      if (!unsetGenesis && signed.manifestDigest !== record.manifestDigest)
        return { why: `the genesis weights give ${signed.manifestDigest}, not the genesis's ${record.manifestDigest}` };
    }
    let momentum = v === 0 || !needsMomentum ? undefined : this.o.store.loadMomentum(v, this.cfg);
    if (!signed || (needsMomentum && v > 0 && !momentum)) {
      // Missing, another try of it, or kept without its momentum (a crash, an older folder): recomputed from its record.
      if (!record.tx) return { why: `version ${v}'s record is not at hand` };
      const verdict = await this.recompute(record.tx, block, true);
      if (verdict.status !== 'ok') return { why: `its parent, version ${v}, could not be recomputed: ${verdict.why}` };
      signed = this.o.store.load(v)!;
      momentum = needsMomentum ? this.o.store.loadMomentum(v, this.cfg) : undefined;
    }
    return { weights: this.o.store.weights(signed), momentum };
  }

  /** A contribution by hash: in `block`, the pool, or the chain. */
  private async contribution(hash: Hash, block?: Block): Promise<ContributionTx | undefined> {
    const tx = block?.txs.find((t) => t.hash === hash)?.tx ?? this.o.ledger.pool.get(hash)?.tx ?? (await this.chain.txByHash(hash))?.tx.tx;
    return tx?.type === 'contribution' ? tx : undefined;
  }

  /**
   * A contribution's update as kept here, for a recomputation: never waits on the network, since a block check runs
   * under the chain's lock. One not kept has its fetch started in the background and throws (replayVersion makes
   * that an UpdateSourceError: the version is unchecked, tried again later).
   */
  private localUpdate(c: ContributionTx, from: Address): Uint8Array {
    const kept = this.o.store.readUpdate(c.gradientDigest.slice(2));
    if (kept) return kept;
    void this.update(c, from).catch(() => undefined); // update() logs nothing; the verdict says why
    const failed = this.failedFetches.get(`${c.gradientDigest.slice(2)}:${from}`);
    throw new Error(`is not kept here yet (${failed ? `no peer served it: ${failed.why}` : 'it is being fetched'})`);
  }

  /**
   * The bytes of a contribution's update: kept here, or fetched from `from` (by default the coordinator that accepted
   * it; a version's check asks the version's signer, which aggregated it) and then any other peer, checked against the
   * digest the contribution records, and kept. Fetches queue by source (FETCH_CONCURRENCY at a time, at most
   * MAX_WAITING waiting), so a coordinator whose server never answers delays only fetches that start with it; a
   * fetch from one source that no peer served is not tried again from that source for FAILED_FETCH_MS.
   */
  update(c: ContributionTx, from: Address = c.coordinator): Promise<Uint8Array> {
    const digest = c.gradientDigest.slice(2);
    const kept = this.o.store.readUpdate(digest);
    if (kept) return Promise.resolve(kept);
    const key = `${digest}:${from}`;
    let running = this.fetches.get(key);
    if (running) return running;
    const failed = this.failedFetches.get(key);
    if (failed && Date.now() - failed.at < FAILED_FETCH_MS) return Promise.reject(new Error(`no peer served it (${failed.why})`));
    running = this.fetchUpdate(c, from).then(
      (bytes) => {
        this.failedFetches.delete(key);
        return bytes;
      },
      (err: Error) => {
        if (this.failedFetches.size >= MAX_VERDICTS) this.failedFetches.delete(this.failedFetches.keys().next().value!);
        this.failedFetches.set(key, { at: Date.now(), why: err.message });
        throw err;
      },
    );
    const done = running.finally(() => this.fetches.delete(key));
    this.fetches.set(key, done);
    return done;
  }

  private async fetchUpdate(c: ContributionTx, from: Address): Promise<Uint8Array> {
    let q = this.fetchQueues.get(from);
    if (!q) this.fetchQueues.set(from, (q = { running: 0, waiting: [] }));
    if (q.running >= FETCH_CONCURRENCY) {
      if (q.waiting.length >= MAX_WAITING) throw new Error(`${q.waiting.length} fetches from ${from} are waiting already`);
      await new Promise<void>((resolve) => q.waiting.push(resolve));
    }
    q.running++;
    try {
      // Kept meanwhile (another source's fetch of the same bytes)?
      return this.o.store.readUpdate(c.gradientDigest.slice(2)) ?? (await this.fetchFromPeers(c, from));
    } finally {
      q.running--;
      q.waiting.shift()?.();
    }
  }

  private async fetchFromPeers(c: ContributionTx, from: Address): Promise<Uint8Array> {
    const network = this.o.network();
    if (!network) throw new Error('no peers yet');
    const first = network.peers.urlOf(from) ?? network.peers.urlOf(c.coordinator);
    const urls = [...new Set([...(first ? [first] : []), ...network.peers.active()])];
    if (urls.length === 0) throw new Error(`no peer to fetch it from (the coordinator ${c.coordinator} that accepted it is not a peer)`);
    const failures: string[] = [];
    for (const url of urls) {
      try {
        const limit = this.o.maxUpdateBytes?.() ?? this.maxUpdateBytes;
        const bytes = await httpUpdates(url, limit, { attempts: 1, timeoutMs: FETCH_TIMEOUT_MS })(c.gradientDigest);
        if (`0x${sha256Hex(bytes)}` !== c.gradientDigest) {
          failures.push(`${url} served other bytes`);
          continue;
        }
        this.o.store.putUpdate(c.gradientDigest.slice(2), bytes);
        return bytes;
      } catch (err) {
        failures.push(`${url}: ${(err as Error).message}`);
      }
    }
    throw new Error(`no peer served it (${failures.join('; ')})`);
  }
}
