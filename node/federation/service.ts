/**
 * Federated rounds on a coordinator: hands out tasks on the current model version, verifies and scores
 * submissions, records each accepted one as a signed `contribution`, and when a round closes (enough accepted
 * updates, or its deadline) averages them, takes an outer Nesterov step, publishes the next version and records
 * its `model_version` transaction.
 */
import { join } from 'node:path';
import type { Address } from '../../chain/address.js';
import type { Hex } from '../../chain/bytes.js';
import { TxError, TxErrorCode } from '../../chain/errors.js';
import { decodeTx } from '../../chain/tx/codec.js';
import { signTx } from '../../chain/tx/sign.js';
import type { ContributionTx, Hash, ModelVersionTx } from '../../chain/tx/types.js';
import { topkCount, updateCosine } from '../../trainer/codec/compress.js';
import { decodeUpdate, updateStats, UpdateCodecError, UpdateCodecErrorCode, type ModelUpdate } from '../../trainer/codec/update-codec.js';
import { defaultCorpusShards } from '../../trainer/corpus/default-corpus.js';
import { batchRows, listBatchAddresses, openShardSet, type BatchAddress, type ShardSet } from '../../trainer/corpus/shards.js';
import type { SignedModelManifest } from '../../trainer/federated/model-manifest.js';
import { DILOCO_OUTER, federatedAverage, outerStep, type OuterOptimizerOptions } from '../../trainer/federated/outer-optimizer.js';
import { numel, paramSpecs, presetConfig, type ModelConfig } from '../../trainer/model/config.js';
import { initWeights, type Weights } from '../../trainer/model/weights.js';
import type { LedgerService } from '../ledger-service.js';
import type { NetworkStats } from '../network-stats.js';
import { federationError } from './errors.js';
import { ModelStore, sha256Hex } from './model-store.js';
import { QualityMeter, type QualityMeasurement } from './quality.js';
import { TaskBook, type TrainingTask } from './task-book.js';
import { RoundJournal } from './round-journal.js';

export interface FederationConfig {
  /** Local training each task asks for. */
  batchSize: number;
  seqLen: number;
  steps: number;
  lr: number;
  taskTtlMs: number;
  tasksPerWallet: number;
  /** A round closes at this many accepted updates, or at its deadline with at least one. */
  roundSize: number;
  roundMs: number;
  /** Fraction of each tensor's values an update may carry. */
  density: number;
  /** How many versions behind the current one a task may be (at most the chain's maxStaleness). */
  maxStaleness: number;
  outer: OuterOptimizerOptions;
  /** Task rows and held-out rows the coordinator scores each update on. */
  scoreRows: number;
  heldOutRows: number;
  fullScoreNats: number;
  heldOutWeight: number;
  /** Cosine similarity above which an update counts as a copy of an accepted one. */
  copyCosine: number;
  /** Token shards (a folder with manifest.json); default: the built-in corpus, cached in the data folder. */
  shardsDir?: string;
  initSeed: number;
}

export const DEFAULT_FEDERATION: FederationConfig = {
  batchSize: 8, seqLen: 64, steps: 16, lr: 2e-3, taskTtlMs: 10 * 60_000, tasksPerWallet: 4,
  roundSize: 4, roundMs: 5 * 60_000, density: 0.01, maxStaleness: 2, outer: DILOCO_OUTER,
  scoreRows: 4, heldOutRows: 4, fullScoreNats: 0.5, heldOutWeight: 0.75, copyCosine: 0.95, initSeed: 1,
};

export interface SubmissionFields {
  wallet: Address;
  taskId: Hex;
  modelVersion: number;
  /** What the miner says its local loss was; logged, never used for rewards. */
  loss: number;
  batchSize: number;
}

export interface AcceptedSubmission {
  taskId: Hex;
  contribution: Hash;
  quality: number;
  reward: bigint;
  measurement: QualityMeasurement;
  gradientDigest: Hex;
  roundVersion: number;
}

interface RoundEntry {
  wallet: Address;
  update: ModelUpdate;
  tokens: number;
  contribution: Hash;
  digest: string;
}

export class FederationService {
  readonly tasks: TaskBook;
  private readonly sizes: Map<string, number>;
  private current!: { version: number; signed: SignedModelManifest; weights: Weights };
  /** Weights of recent versions, for scoring updates trained on them. */
  private readonly recent = new Map<number, Weights>();
  private momentum: Weights | undefined;
  private round: RoundEntry[] = [];
  private previousRound: RoundEntry[] = [];
  private roundDeadline = 0;
  private readonly digests = new Map<string, number>();
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private taskCursor: number;
  private readonly taskAddresses: BatchAddress[];
  private readonly heldAddresses: BatchAddress[];
  private stopped = false;
  private readonly journal: RoundJournal;
  private readonly awaitingAggregation = new Set<Hash>();

  private constructor(
    readonly cfg: FederationConfig,
    readonly modelConfig: ModelConfig,
    readonly store: ModelStore,
    readonly shards: ShardSet,
    private readonly ledger: LedgerService,
    private readonly stats: NetworkStats,
    private readonly key: Uint8Array,
    readonly coordinator: Address,
    private readonly meter: QualityMeter,
    private readonly log: (line: string) => void,
  ) {
    this.tasks = new TaskBook(cfg.tasksPerWallet);
    this.journal = new RoundJournal(join(store.dir, 'open-round'));
    this.sizes = new Map(paramSpecs(modelConfig).map((s) => [s.name, numel(s.shape)]));
    // Task windows start one row apart: on a small corpus (the devnet's) whole-task strides would leave only a
    // few distinct tasks, and the same tokens from the same version train to the same update, a duplicate.
    this.taskAddresses = listBatchAddresses(shards.manifest, 'train', cfg.steps * cfg.batchSize, cfg.seqLen, cfg.seqLen + 1);
    this.heldAddresses = listBatchAddresses(shards.manifest, 'eval', cfg.heldOutRows, cfg.seqLen);
    if (this.taskAddresses.length === 0) throw new Error(`the training shards hold less than one task of ${cfg.steps}x${cfg.batchSize}x${cfg.seqLen + 1} tokens`);
    if (this.heldAddresses.length === 0) throw new Error('the shards have no held-out (eval) batch for scoring');
    this.taskCursor = Math.floor(Math.random() * this.taskAddresses.length);
  }

  static async start(o: {
    dataDir: string;
    ledger: LedgerService;
    stats: NetworkStats;
    key: Uint8Array;
    coordinator: Address;
    config?: Partial<FederationConfig>;
    log?: (line: string) => void;
  }): Promise<FederationService> {
    const spec = o.ledger.chain.spec;
    const cfg = { ...DEFAULT_FEDERATION, ...o.config };
    cfg.maxStaleness = Math.min(cfg.maxStaleness, Number(spec.rewards.maxStaleness));
    const modelConfig = presetConfig(spec.model);
    const root = join(o.dataDir, 'federation');
    const shards = cfg.shardsDir ? await openShardSet(cfg.shardsDir) : await defaultCorpusShards(join(o.dataDir, 'cache'));
    const meter = new QualityMeter(modelConfig, 'cpu', {
      fullScoreNats: cfg.fullScoreNats, heldOutWeight: cfg.heldOutWeight, minQuality: spec.rewards.minQuality, maxQuality: spec.rewards.maxQuality,
    });
    const s = new FederationService(cfg, modelConfig, new ModelStore(root), shards, o.ledger, o.stats, o.key, o.coordinator, meter, o.log ?? console.log);
    s.loadCurrent();
    await s.resumeRound();
    s.roundDeadline = Date.now() + cfg.roundMs;
    s.timer = setInterval(() => void s.exclusive(() => s.maybeCloseRound()).catch((err: Error) => s.log(`federation: ${err.message}`)), 250);
    return s;
  }

  /** The version the ledger names as latest, from the store (version 0 is made from the genesis init). */
  private loadCurrent(): void {
    const latest = Number(this.ledger.pool.pendingState.meta().latestModelVersion);
    let signed = this.store.load(latest);
    let weights: Weights;
    if (signed) {
      weights = this.store.weights(signed);
    } else if (latest === 0) {
      weights = initWeights(this.modelConfig, this.cfg.initSeed);
      signed = this.store.publish(this.ledger.chain.spec.model, this.modelConfig, 0, weights, this.key, this.coordinator);
    } else {
      throw new Error(`the ledger's model version ${latest} is not in ${this.store.dir}; restore that folder to coordinate rounds`);
    }
    this.current = { version: latest, signed, weights };
    this.recent.set(latest, weights);
    this.momentum = this.store.loadMomentum(latest, this.modelConfig);
  }

  /**
   * Takes back the round a crash interrupted: re-submits each journaled contribution (the ledger ignores one it
   * already holds) and keeps its update for the next aggregation, unless a version already aggregated it or it is
   * now too stale to be aggregated.
   */
  private async resumeRound(): Promise<void> {
    const view = this.ledger.pool.pendingState;
    for (const e of this.journal.entries()) {
      const signed = decodeTx(e.tx);
      const tx = signed.tx;
      if (tx.type !== 'contribution' || signed.hash !== e.contribution) {
        this.journal.remove(e.contribution);
        continue;
      }
      const recorded = view.contribution(e.contribution);
      if ((recorded && recorded.aggregatedIn > 0n) || this.current.version - Number(tx.modelVersion) > this.cfg.maxStaleness) {
        this.journal.remove(e.contribution);
        continue;
      }
      if (!recorded) {
        try {
          await this.ledger.submit(signed);
        } catch (err) {
          if (!(err instanceof TxError && err.code === TxErrorCode.DUPLICATE)) {
            this.log(`federation: dropped journaled contribution ${e.contribution}: ${(err as Error).message}`);
            this.journal.remove(e.contribution);
            continue;
          }
        }
      }
      this.round.push({ wallet: e.wallet, update: decodeUpdate(e.update, this.sizes), tokens: e.tokens, contribution: e.contribution, digest: e.digest });
      this.digests.set(e.digest, this.current.version);
    }
    if (this.round.length > 0) this.log(`federation: resumed a round of ${this.round.length} accepted update(s) from ${this.journal.dir}`);
  }

  get version(): number {
    return this.current.version;
  }

  get model(): SignedModelManifest {
    return this.current.signed;
  }

  manifest(version: number): SignedModelManifest | undefined {
    return version === this.current.version ? this.current.signed : this.recent.has(version) ? this.store.load(version) : undefined;
  }

  roundStatus(): { version: number; accepted: number; roundSize: number; deadline: number; openTasks: number } {
    return { version: this.current.version, accepted: this.round.length, roundSize: this.cfg.roundSize, deadline: this.roundDeadline, openTasks: this.tasks.open() };
  }

  /** Runs `fn` after everything queued before it: submissions and round closing never interleave. */
  private exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Values an update may carry: each tensor's top-k and, for a matrix, its mean row. */
  maxValues(): number {
    let n = 0;
    for (const s of paramSpecs(this.modelConfig)) n += topkCount(numel(s.shape), this.cfg.density) + (s.shape.length === 2 ? s.shape[1]! : 0);
    return n;
  }

  issueTask(wallet: Address): TrainingTask {
    if (this.stopped) throw federationError('NO_MODEL', 'the coordinator is stopping');
    // Consecutive tasks step far apart through the overlapping windows (a golden-ratio walk), so they share few tokens.
    const n = this.taskAddresses.length;
    const address = this.taskAddresses[Math.floor(((this.taskCursor++ * 0.6180339887498949) % 1) * n)]!;
    const shard = this.shards.shard(address.shard);
    const maxValues = this.maxValues();
    let headerBytes = 8;
    for (const name of this.sizes.keys()) headerBytes += 1 + name.length + 9 + 8;
    return this.tasks.issue({
      wallet, modelVersion: this.current.version, shardName: shard.name, shardDigest: shard.sha256,
      offset: address.offset, length: address.batchSize * (address.seqLen + 1), batchSize: this.cfg.batchSize,
      seqLen: this.cfg.seqLen, steps: this.cfg.steps, lr: this.cfg.lr, deadline: Date.now() + this.cfg.taskTtlMs,
      maxAbs: 3 * this.cfg.lr * this.cfg.steps, density: this.cfg.density, maxValues,
      maxBytes: headerBytes + 9 * maxValues,
    });
  }

  /** Gives an open task back (its miner stopped): the wallet's slot frees up and the task can never be submitted. */
  abandonTask(id: Hex, wallet: Address): TrainingTask {
    const task = this.tasks.abandon(id, wallet);
    this.log(`federation: task ${id.slice(0, 10)} abandoned by ${wallet}`);
    return task;
  }

  taskTokens(task: TrainingTask): Uint16Array {
    return this.shards.readTokens(task.shardName, task.offset, task.length);
  }

  /** Checks that need no body; throws the error the submission gets. */
  precheck(f: SubmissionFields): TrainingTask {
    const task = this.tasks.claimable(f.taskId, f.wallet);
    if (f.modelVersion !== task.modelVersion) {
      throw federationError('VERSION_MISMATCH', `task ${task.id} is on model version ${task.modelVersion}, the submission says ${f.modelVersion}`);
    }
    if (this.current.version - task.modelVersion > this.cfg.maxStaleness) {
      throw federationError('STALE_VERSION',
        `version ${task.modelVersion} is ${this.current.version - task.modelVersion} versions behind the current ${this.current.version} (window: ${this.cfg.maxStaleness}); fetch the model and ask for a new task`);
    }
    if (f.batchSize !== task.batchSize) throw federationError('BAD_REQUEST', `batchSize ${f.batchSize} is not the task's ${task.batchSize}`);
    return task;
  }

  /** Verifies, scores and records one submission; throws an ApiError naming the reason for a refusal. */
  submit(f: SubmissionFields, body: Uint8Array): Promise<AcceptedSubmission> {
    return this.exclusive(async () => {
      const task = this.precheck(f); // again: the round may have moved on while the body arrived
      const digest = sha256Hex(body);
      if (this.digests.has(digest)) throw federationError('DUPLICATE_UPDATE', `an identical update (sha256 ${digest}) was already submitted`);
      let update: ModelUpdate;
      try {
        update = decodeUpdate(body, this.sizes);
      } catch (err) {
        if (!(err instanceof UpdateCodecError)) throw err;
        const code = err.code === UpdateCodecErrorCode.NON_FINITE ? 'NON_FINITE' : err.code === UpdateCodecErrorCode.SHAPE_MISMATCH || err.code === UpdateCodecErrorCode.UNKNOWN_TENSOR ? 'SHAPE_MISMATCH' : 'BAD_UPDATE';
        throw federationError(code, `the update does not decode: ${err.message}`);
      }
      const { values, maxAbs } = updateStats(update);
      if (values > task.maxValues) throw federationError('TOO_DENSE', `the update carries ${values} values; the task allows ${task.maxValues} (density ${task.density})`);
      if (values === 0) throw federationError('BAD_UPDATE', 'the update carries no values');
      if (maxAbs > task.maxAbs * 1.02) throw federationError('NORM_EXCEEDED', `a value of magnitude ${maxAbs.toExponential(3)} exceeds the task's bound ${task.maxAbs.toExponential(3)}`);
      for (const other of [...this.round, ...this.previousRound]) {
        const cos = updateCosine(update, other.update);
        if (cos > this.cfg.copyCosine) {
          throw federationError('DUPLICATE_UPDATE', `the update is a copy of an accepted submission (cosine ${cos.toFixed(4)})`);
        }
      }
      const base = this.recent.get(task.modelVersion);
      if (!base) throw federationError('STALE_VERSION', `version ${task.modelVersion} is no longer kept; ask for a new task`);
      task.state = 'busy';
      try {
        const tokens = this.taskTokens(task);
        const width = task.seqLen + 1;
        const rowCount = task.length / width;
        const picked = new Set<number>();
        while (picked.size < Math.min(this.cfg.scoreRows, rowCount)) picked.add(Math.floor(Math.random() * rowCount));
        const taskRows = [...picked].map((r) => Array.from(tokens.subarray(r * width, (r + 1) * width)));
        const heldAddress = this.heldAddresses[task.modelVersion % this.heldAddresses.length]!;
        const heldRows = batchRows(this.shards.readBatch(heldAddress));
        const m = await this.meter.measure(base, update, taskRows, heldRows);
        if (!(m.taskLossAfter < m.taskLossBefore)) {
          throw federationError('NO_IMPROVEMENT',
            `the update does not lower the loss on the task's own tokens (${m.taskLossBefore.toFixed(4)} -> ${m.taskLossAfter.toFixed(4)})`);
        }
        const spec = this.ledger.chain.spec;
        const reward = (spec.rewards.contributionBase * BigInt(m.quality)) / 1000n;
        const tx = signTx({
          type: 'contribution', coordinator: this.coordinator, miner: f.wallet, taskId: task.id, modelVersion: BigInt(task.modelVersion),
          shard: `0x${task.shardDigest}`, offset: BigInt(task.offset), length: BigInt(task.length), gradientDigest: `0x${digest}`,
          quality: m.quality, reward,
        } satisfies Omit<ContributionTx, 'signature'>, this.key, spec.chainId);
        // Journal first: a crash after the ledger has the contribution must not lose its update.
        const tokensTrained = task.steps * task.batchSize * task.seqLen;
        this.journal.add({ contribution: tx.hash, tx: tx.bytes, update: body, wallet: f.wallet, tokens: tokensTrained, digest });
        try {
          await this.ledger.submit(tx);
        } catch (err) {
          this.journal.remove(tx.hash);
          throw err;
        }
        task.state = 'used';
        this.digests.set(digest, this.current.version);
        this.round.push({ wallet: f.wallet, update, tokens: tokensTrained, contribution: tx.hash, digest });
        this.stats.recordWork(f.wallet, tokensTrained);
        this.log(`federation: accepted task ${task.id.slice(0, 10)} from ${f.wallet} (v${task.modelVersion}, quality ${m.quality / 1000}x, held-out ${m.heldLossBefore.toFixed(3)} -> ${m.heldLossAfter.toFixed(3)})`);
        const accepted: AcceptedSubmission = {
          taskId: task.id, contribution: tx.hash, quality: m.quality, reward, measurement: m, gradientDigest: `0x${digest}`, roundVersion: this.current.version,
        };
        await this.maybeCloseRound();
        return accepted;
      } catch (err) {
        if (task.state === 'busy') task.state = 'open';
        if (err instanceof TxError) this.log(`federation: contribution refused by the ledger: ${err.message}`);
        throw err;
      }
    });
  }

  private pruneJournal(): void {
    const view = this.ledger.chain.view();
    for (const hash of this.awaitingAggregation) {
      if ((view.contribution(hash)?.aggregatedIn ?? 0n) > 0n) {
        this.journal.remove(hash);
        this.awaitingAggregation.delete(hash);
      }
    }
  }

  private async maybeCloseRound(): Promise<void> {
    if (this.stopped) return;
    this.pruneJournal();
    const now = Date.now();
    if (this.round.length === 0) {
      if (now >= this.roundDeadline) this.roundDeadline = now + this.cfg.roundMs;
      return;
    }
    if (this.round.length < this.cfg.roundSize && now < this.roundDeadline) return;
    await this.closeRound();
  }

  /** FedAvg + outer Nesterov step, then the next version: chunks and manifest first, then its ledger record. */
  private async closeRound(): Promise<void> {
    const entries = this.round;
    const parent = this.current;
    const mean = federatedAverage(parent.weights, entries);
    const { weights, momentum } = outerStep(parent.weights, this.momentum, mean, this.cfg.outer);
    const version = parent.version + 1;
    const signed = this.store.publish(this.ledger.chain.spec.model, this.modelConfig, version, weights, this.key, this.coordinator);
    const tx = signTx({
      type: 'model_version', coordinator: this.coordinator, version: BigInt(version), parentVersion: BigInt(parent.version),
      manifestDigest: signed.manifestDigest, contributions: entries.map((e) => e.contribution),
    } satisfies Omit<ModelVersionTx, 'signature'>, this.key, this.ledger.chain.spec.chainId);
    await this.ledger.submit(tx);
    // Journal entries go once a block holds this version (pruneJournal); a crash before that replays the round.
    for (const e of entries) this.awaitingAggregation.add(e.contribution);
    this.current = { version, signed, weights };
    this.momentum = momentum;
    this.store.saveMomentum(version, this.modelConfig, momentum);
    this.recent.set(version, weights);
    for (const v of this.recent.keys()) if (v < version - this.cfg.maxStaleness) this.recent.delete(v);
    for (const [d, v] of this.digests) if (v < version - this.cfg.maxStaleness - 1) this.digests.delete(d);
    this.store.prune(version - this.cfg.maxStaleness);
    this.previousRound = entries;
    this.round = [];
    this.roundDeadline = Date.now() + this.cfg.roundMs;
    this.log(`federation: published model version ${version} from ${entries.length} updates (${tx.hash})`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.exclusive(() => undefined);
    await this.meter.dispose();
  }
}
