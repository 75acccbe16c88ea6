/**
 * Federated rounds on a coordinator: hands out tasks on the current model version, verifies and scores
 * submissions, records each accepted one as a signed `contribution`, and when a round closes (enough accepted
 * updates, or its deadline) averages them, takes an outer Nesterov step, publishes the next version and records
 * its `model_version` transaction. With several coordinators each runs one of these: contributions the others
 * accepted join its round from the ledger, only the round's runner (round-schedule.ts) closes it, and a version
 * another coordinator published is followed once the ledger holds it.
 */
import { freemem } from 'node:os';
import { chooseTrainingSettings, settingsName } from '../../trainer/model/memory-plan.js';
import { collectGarbage } from '../../trainer/runtime/collect-garbage.js';
import { TrainerError, TrainerErrorCode } from '../../trainer/errors.js';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import type { Address } from '../../protocol/address.js';
import type { Hex } from '../../protocol/bytes.js';
import { TxError, TxErrorCode } from '../../chain/errors.js';
import { decodeTx } from '../../chain/tx/codec.js';
import { contributionReward } from '../../chain/rewards.js';
import { signTx } from '../../chain/tx/sign.js';
import type { Signature } from '../../protocol/signature.js';
import { taskRequestDigest, type TaskRequest } from '../../chain/tx/task-request.js';
import type { ContributionTx, Hash, ModelVersionTx } from '../../chain/tx/types.js';
import {
  compressUpdate,
  LOW_RANK,
  lowRankValues,
  matrixRowLengths,
  topkCount,
  updateCosine,
  weightChangeDistance,
} from '../../trainer/codec/compress.js';
import { sharedValueFraction } from '../../trainer/codec/similarity.js';
import { trainLocally } from '../../trainer/federated/local-training.js';
import { compressOffThread } from '../../trainer/federated/compress-off-thread.js';
import { decodeUpdate, updateStats, UpdateCodecError, UpdateCodecErrorCode, type ModelUpdate } from '../../trainer/codec/update-codec.js';
import { defaultCorpusShards } from '../../trainer/corpus/default-corpus.js';
import { listBatchAddresses, openShardSet, type BatchAddress, type ShardSet } from '../../trainer/corpus/shards.js';
import type { SignedModelManifest } from '../../trainer/federated/model-manifest.js';
import { DILOCO_OUTER, federatedAverage, recordedStep, type OuterStepRecord } from '../../trainer/federated/outer-optimizer.js';
import { numel, paramCount, paramSpecs, presetConfig, type ModelConfig } from '../../trainer/model/config.js';
import { weightDelta, type Weights } from '../../trainer/model/weights.js';
import type { LedgerService } from '../ledger-service.js';
import type { RoundStatus } from '../../protocol/ledger.js';
import type { NetworkStats } from '../network-stats.js';
import { federationError } from './errors.js';
import { GENESIS_INIT_SEED, ModelStore, sha256Hex, makeGenesisVersion } from './model-store.js';
import {
  describeMeasurement,
  judge,
  QualityMeter,
  sampleIndices,
  sharedTokens,
  unpaidRows,
  UnpaidRowsError,
  type ControlModel,
  type Reference,
  type TokenRange,
  type PoolRow,
  type QualityMeasurement,
  type ScorePolicy,
  type VersionPool,
} from './quality.js';
import { MIN_ROWS } from './row-statistics.js';
import { TaskBook, type TrainingTask } from './task-book.js';
import { TaskRequestGuard } from './task-request-guard.js';
import { RoundJournal, type JournalEntry } from './round-journal.js';
import type { RoundSchedule } from './round-schedule.js';
import type { Block } from '../../chain/block/block.js';

export interface FederationConfig {
  /** Local training each task asks for (`lr` at version 0; see taskLr). */
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
  /**
   * The outer step's learning rate (DiLoCo's outer lr; the step tries it, half of it, then restarts down to a sixteenth).
   * The outer momentum is not a setting: it is the protocol's 0.3 (`DILOCO_OUTER`), which an audit's replay uses.
   */
  outerLr: number;
  /** How each update is measured and judged (rows per test, the t critical value, the least work paid). */
  score: ScorePolicy;
  /** Reference tasks the coordinator trains itself per version (at least 2: each is another's control). */
  referenceTasks: number;
  /**
   * Most relative distance (||update - recomputed|| / ||recomputed||) between a submission's weight change and the
   * coordinator's recomputation of its task (see checkRecomputed); 0 turns the recomputation off (it costs one
   * training of the task per submission).
   */
  recomputeTolerance: number;
  /**
   * Memory the coordinator's own trainings (reference tasks, recomputations) may plan for, GiB; 0: what the OS reports
   * available. They take the fastest layout that fits, as a miner does (trainer/model/memory-plan.ts).
   */
  trainMemoryGiB: number;
  /** Cosine similarity above which an update counts as a copy of an accepted one. */
  copyCosine: number;
  /** Fraction of an update's values equal to another's (an accepted update, a published change) that makes it a copy. */
  copyFraction: number;
  /** Token shards (a folder with manifest.json); default: the built-in corpus, cached in the data folder. */
  shardsDir?: string;
}

/**
 * The devnet's federation settings. Tasks of 12 steps of 4 rows of 33 tokens (1,584 tokens): each row of the training
 * split is paid once per version (see chooseWindow), so a round of four, extended twice, needs up to twelve disjoint
 * windows, which is what the built-in corpus's training split (19,687 tokens) holds at this size; at the earlier
 * 8 x 64 x 16 it held two.
 */
export const DEFAULT_FEDERATION: FederationConfig = {
  batchSize: 4,
  seqLen: 32,
  steps: 12,
  lr: 3e-3,
  taskTtlMs: 10 * 60_000,
  tasksPerWallet: 4,
  roundSize: 4,
  roundMs: 5 * 60_000,
  density: 0.01,
  maxStaleness: 2,
  outerLr: DILOCO_OUTER.lr,
  score: { taskRows: 64, unassignedRows: 64, heldOutRows: 128, minWorkRatio: 0.3, maxWorkRatio: 3, maxHarmRatio: 0.5, maxHeldOutLead: 0.5 },
  referenceTasks: 2,
  recomputeTolerance: 0.05,
  trainMemoryGiB: 0,
  copyCosine: 0.95,
  copyFraction: 0.2,
};

export interface SubmissionFields {
  wallet: Address;
  taskId: Hex;
  modelVersion: number;
  /** What the miner says its local loss was; logged, never used for rewards. */
  loss: number;
  batchSize: number;
  /** How the miner trained (SubmitQuery.settings); logged, never used for rewards. */
  settings?: string;
}

export interface AcceptedSubmission {
  taskId: Hex;
  contribution: Hash;
  quality: number;
  reward: bigint;
  measurement: QualityMeasurement;
  /** Task-specific gain relative to the version's reference task. */
  workRatio: number;
  gradientDigest: Hex;
  roundVersion: number;
}

interface VersionScoring {
  pool: VersionPool;
  /** What the coordinator's reference tasks measured on this version, and their updates as controls. */
  reference: Reference;
  controls: ControlModel[];
  /** Mean loss (nats) of this version on the eval split's fixed test rows (see evalLoss). */
  heldOutLoss: number;
}

/** Whether `a` sorts before `b` (same length), comparing element by element. */
function lexicographicLess(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

/** The token range of a task window. */
const rangeOfAddress = (a: BatchAddress): TokenRange => ({ shard: a.shard, offset: a.offset, length: a.batchSize * (a.seqLen + 1) });

/** A task's tokens as rows of seqLen + 1 ids. */
function taskRowsOf(tokens: Uint16Array, seqLen: number): number[][] {
  const width = seqLen + 1;
  return Array.from({ length: Math.floor(tokens.length / width) }, (_, r) => Array.from(tokens.subarray(r * width, (r + 1) * width)));
}

/**
 * The local learning rate of tasks on `version`: `lr / sqrt(1 + version)`, an inverse square root decay (as in
 * Vaswani et al. 2017). Once the first fast drop is over, tasks at a higher rate make held-out loss worse even on
 * average: on the devnet's version 4 (held-out 7.51), the mean of four tasks' updates raised it by 0.053 nats at
 * lr 1.8e-3 (the earlier, slower decay `lr / sqrt(1 + version / 10)`) and lowered it by 0.011 at 1e-3 and 0.018 at
 * 7e-4; at version 2, 1e-3 lowered it twice as much as 1.9e-3 (`bench/honest-devnet.sh`, then the four tasks
 * replayed on the saved version). The gauntlet measures task-specific gain relative to the reference tasks, which
 * train at the same rate, so a lower rate does not make honest work look smaller.
 */
export function taskLearningRate(lr: number, version: number): number {
  return lr / Math.sqrt(1 + version);
}

/** The name of the first tensor holding a NaN or an infinity, if any. */
export function firstNonFinite(weights: Weights): string | undefined {
  for (const [name, w] of weights) for (let i = 0; i < w.length; i++) if (!Number.isFinite(w[i]!)) return name;
  return undefined;
}

/** Splits with at most this many task windows are scanned whole for each task (the devnet's has about 600). */
const FULL_SCAN_WINDOWS = 4096;
/** Windows drawn at random per task on a larger split, beside the packing candidates (see candidateWindows). */
const RANDOM_WINDOWS = 256;

/** How many times a round whose average does not lower validation loss is extended by `roundSize` updates. */
const MAX_ROUND_EXTENSIONS = 2;

/**
 * Least fall of validation loss (nats) that counts as lowering it: a smaller one is within noise (a step that lowered
 * validation loss by 0.0002 raised the other half's by 0.0001, bench/honest-devnet.sh at version 8), so the round is
 * extended as when nothing lowers it.
 */
const MIN_VALIDATION_GAIN = 1e-3;

interface RoundEntry {
  wallet: Address;
  /** The model version the update was trained on, and the task's token range: rows paid on that version. */
  version: number;
  range: TokenRange;
  update: ModelUpdate;
  /** Its FedAvg weight: the tokens of its window, as its contribution records them (`length`). */
  tokens: number;
  contribution: Hash;
  digest: string;
}

export class FederationService {
  readonly tasks: TaskBook;
  /** Signed task requests' freshness and nonces. */
  private readonly taskRequests: TaskRequestGuard;
  private readonly sizes: Map<string, number>;
  private current!: { version: number; signed: SignedModelManifest; weights: Weights };
  /** Weights of recent versions, for scoring updates trained on them. */
  private readonly recent = new Map<number, Weights>();
  private momentum: Weights | undefined;
  private round: RoundEntry[] = [];
  /** Accepted updates that close the open round: `roundSize`, more while the round is extended (see closeRound). */
  private roundTarget: number;
  /** How often the open round has been extended (see closeRound). */
  private extensions = 0;
  /**
   * The updates of the last rounds, as many as a task's version can be behind (maxStaleness + 1): a copy (even of the
   * sender's own accepted update) can be sent on a stale task, so the copy check looks that far back.
   */
  private pastRounds: RoundEntry[][] = [];
  private roundDeadline = 0;
  private readonly digests = new Map<string, number>();
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly taskAddresses: BatchAddress[];
  /** Per shard, where its windows start in taskAddresses and how many it has (consecutive, one row apart). */
  private readonly windowIndex = new Map<string, { first: number; count: number }>();
  /** Single rows (overlapping by half) of the training and eval splits, from which each version's pools are drawn. */
  private readonly trainRows: BatchAddress[];
  private readonly evalRows: BatchAddress[];
  /** The eval rows' tokens, split in the two fixed halves evalLoss scores (read on first use). */
  private evalHalves: { validation: number[][]; test: number[][] } | undefined;
  /** Per version: the scoring pools and the coordinator's reference task (see quality.ts). */
  private readonly scoring = new Map<number, Promise<VersionScoring>>();
  /** Each recent version's held-out loss on the fixed eval rows (training's progress, served by GET /api/round). */
  private readonly heldOutByVersion = new Map<number, number>();
  /** Recently published model changes (version -> its change from the parent, in sparse form) for the copy check. */
  private readonly changes = new Map<number, ModelUpdate>();
  private stopped = false;
  private readonly journal: RoundJournal;
  /**
   * The aggregated updates of the last maxStaleness + 1 rounds (pastRounds) on disk, so that a restarted coordinator
   * still refuses their copies and replays and still knows which rows they were paid for.
   */
  private readonly recentJournal: RoundJournal;
  private readonly awaitingAggregation = new Set<Hash>();
  /** This coordinator's share of each shard's rows (its place among the genesis coordinators): its task windows. */
  private readonly region: { index: number; count: number };
  private unsubscribeChain: (() => void) | undefined;
  /** Blocks followed so far, in order (see start). */
  private following: Promise<void> = Promise.resolve();

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
    /** Who closes each round among the live coordinators (absent: this coordinator closes every round). */
    private readonly schedule?: RoundSchedule,
    /** The bytes of an update another coordinator accepted (ModelReplica.update: kept here or fetched from a peer). */
    private readonly foreignUpdate?: (c: ContributionTx) => Promise<Uint8Array>,
  ) {
    this.tasks = new TaskBook(cfg.tasksPerWallet);
    this.roundTarget = cfg.roundSize;
    this.journal = new RoundJournal(join(store.dir, 'open-round'));
    this.recentJournal = new RoundJournal(join(store.dir, 'recent-rounds'));
    this.taskRequests = new TaskRequestGuard(undefined, undefined, join(store.dir, 'used-task-requests.json'));
    this.sizes = new Map(paramSpecs(modelConfig).map((s) => [s.name, numel(s.shape)]));
    const coordinators = schedule?.coordinators ?? [coordinator];
    this.region = { index: Math.max(0, coordinators.indexOf(coordinator)), count: coordinators.length };
    // Task windows start one row apart: on a small corpus (the devnet's) whole-task strides would leave only a
    // few distinct tasks, and the same tokens from the same version train to the same update, a duplicate.
    this.taskAddresses = listBatchAddresses(shards.manifest, 'train', cfg.steps * cfg.batchSize, cfg.seqLen, cfg.seqLen + 1);
    this.taskAddresses.forEach((a, i) => {
      const s = this.windowIndex.get(a.shard);
      if (s) s.count++;
      else this.windowIndex.set(a.shard, { first: i, count: 1 });
    });
    const rowStride = Math.ceil((cfg.seqLen + 1) / 2);
    this.trainRows = listBatchAddresses(shards.manifest, 'train', 1, cfg.seqLen, rowStride);
    this.evalRows = listBatchAddresses(shards.manifest, 'eval', 1, cfg.seqLen, rowStride);
    if (this.taskAddresses.length === 0)
      throw new Error(`the training shards hold less than one task of ${cfg.steps}x${cfg.batchSize}x${cfg.seqLen + 1} tokens`);
    const own = this.ownWindows();
    if (own && !this.taskAddresses.some(own))
      throw new Error(
        `the training shards are too small to share among ${this.region.count} coordinators: coordinator ${this.region.index + 1}'s share of the rows holds no whole task of ${cfg.steps}x${cfg.batchSize} rows; use smaller tasks (--rounds) or more data`,
      );
    if (this.evalRows.length < MIN_ROWS) {
      throw new Error(
        `the eval split holds ${this.evalRows.length} rows of ${cfg.seqLen + 1} tokens; scoring needs at least ${MIN_ROWS}: add held-out text`,
      );
    }
    if (cfg.steps * cfg.batchSize < MIN_ROWS) {
      throw new Error(
        `a task of ${cfg.steps * cfg.batchSize} rows (steps x batchSize) is too few for the paired test, which needs ${MIN_ROWS}`,
      );
    }
  }

  static async start(o: {
    dataDir: string;
    ledger: LedgerService;
    stats: NetworkStats;
    key: Uint8Array;
    coordinator: Address;
    config?: Partial<FederationConfig>;
    log?: (line: string) => void;
    schedule?: RoundSchedule;
    foreignUpdate?: (c: ContributionTx) => Promise<Uint8Array>;
  }): Promise<FederationService> {
    const spec = o.ledger.chain.spec;
    const cfg = { ...DEFAULT_FEDERATION, ...o.config };
    cfg.maxStaleness = Math.min(cfg.maxStaleness, Number(spec.rewards.maxStaleness));
    const modelConfig = presetConfig(spec.model);
    const root = join(o.dataDir, 'federation');
    const shards = cfg.shardsDir ? await openShardSet(cfg.shardsDir) : await defaultCorpusShards(join(o.dataDir, 'cache'));
    cfg.score = { ...DEFAULT_FEDERATION.score, ...o.config?.score };
    const meter = new QualityMeter(modelConfig, 'cpu', cfg.score);
    const s = new FederationService(
      cfg,
      modelConfig,
      new ModelStore(root),
      shards,
      o.ledger,
      o.stats,
      o.key,
      o.coordinator,
      meter,
      o.log ?? console.log,
      o.schedule,
      o.foreignUpdate,
    );
    s.loadCurrent();
    await s.resumeRound();
    // Contributions other coordinators accepted join this round; a version another coordinator published is followed.
    s.unsubscribeChain = o.ledger.chain.onBlock((block) => {
      // Other coordinators' updates are fetched before the round's lock is taken, so that a coordinator whose server is
      // slow holds up no one's round closing (inside, each is then kept, or refused from memory at once); blocks are
      // still followed in order.
      const fetched = Promise.allSettled(
        block.txs.flatMap(({ tx }) =>
          tx.type === 'contribution' && tx.coordinator !== s.coordinator && o.foreignUpdate ? [o.foreignUpdate(tx)] : [],
        ),
      );
      s.following = s.following
        .then(() => fetched)
        .then(() => s.exclusive(() => s.follow(block)))
        .catch((err: Error) => s.log(`federation: following block ${block.header.height}: ${err.message}`));
    });
    s.roundDeadline = Date.now() + cfg.roundMs;
    s.timer = setInterval(
      () => void s.exclusive(() => s.maybeCloseRound()).catch((err: Error) => s.log(`federation: ${err.message}`)),
      250,
    );
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
      ({ signed, weights } = makeGenesisVersion(
        this.store,
        this.ledger.chain.spec.model,
        this.modelConfig,
        this.key,
        this.coordinator,
        (line) => this.log(`federation: ${line}`),
      ));
    } else {
      throw new Error(`the ledger's model version ${latest} is not in ${this.store.dir}; restore that folder to coordinate rounds`);
    }
    // The stored version must be the one the ledger records (a crash between writing a version and the ledger taking
    // it can leave another try on disk): rounds built on other weights would publish versions no audit recomputes.
    const recorded =
      latest > 0 ? this.ledger.pool.pendingState.modelVersion(BigInt(latest))?.manifestDigest : this.ledger.chain.spec.genesisModelDigest;
    const unset = latest === 0 && /^0x0{64}$/.test(recorded ?? '');
    if (!unset && recorded !== signed.manifestDigest) {
      throw new Error(
        latest === 0
          ? `the genesis names model digest ${recorded}, but the genesis weights (seed ${GENESIS_INIT_SEED}) give ${signed.manifestDigest}: this network starts from weights this node cannot make`
          : `${this.store.dir}/versions/${latest}.json has manifest digest ${signed.manifestDigest}, but the ledger records ${recorded} for version ${latest}; restore the folder this coordinator published from`,
      );
    }
    this.current = { version: latest, signed, weights };
    this.recent.set(latest, weights);
    this.momentum = this.store.loadMomentum(latest, this.modelConfig);
    const parent = latest > 0 ? this.store.load(latest - 1) : undefined;
    if (parent) this.recordChange(latest, this.store.weights(parent), weights);
  }

  /**
   * Takes back the round a crash interrupted: re-submits each journaled contribution (the ledger ignores one it
   * already holds) and keeps its update for the next aggregation, unless a version already aggregated it (it then
   * belongs to a past round) or it is now too stale to be aggregated. Then the last maxStaleness + 1 rounds' updates
   * (recent-rounds/), for the copy check, the duplicate check and the rows they were paid for.
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
      // A journal written before updates were kept by digest (or a crash between the two writes).
      if (sha256Hex(e.update) === e.digest) this.store.putUpdate(e.digest, e.update);
      const recorded = view.contribution(e.contribution);
      if (recorded && recorded.aggregatedIn > 0n) {
        this.journal.moveTo(this.recentJournal, e.contribution);
        continue;
      }
      if (this.current.version - Number(tx.modelVersion) > this.cfg.maxStaleness) {
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
      const entry = this.roundEntryOf(e, tx);
      if (!entry) {
        this.journal.remove(e.contribution);
        continue;
      }
      this.round.push(entry);
      this.digests.set(e.digest, this.current.version);
    }
    if (this.round.length > 0) this.log(`federation: resumed a round of ${this.round.length} accepted update(s) from ${this.journal.dir}`);
    const kept = this.cfg.maxStaleness + 1;
    const past: RoundEntry[][] = Array.from({ length: kept }, () => []);
    for (const e of this.recentJournal.entries()) {
      const signed = decodeTx(e.tx);
      const aggregatedIn = Number(view.contribution(e.contribution)?.aggregatedIn ?? 0n);
      const age = this.current.version - aggregatedIn;
      // Only an update the ledger shows aggregated into one of the last `kept` versions belongs to a past round.
      const recent = aggregatedIn > 0 && age >= 0 && age < kept;
      const entry =
        signed.tx.type === 'contribution' && signed.hash === e.contribution && recent ? this.roundEntryOf(e, signed.tx) : undefined;
      if (!entry) {
        this.recentJournal.remove(e.contribution);
        continue;
      }
      past[age]!.push(entry);
      this.digests.set(e.digest, this.current.version - age);
    }
    this.pastRounds = past;
  }

  /** A journaled contribution as a round's entry, or undefined when its shard is not in the corpus (logged). */
  private roundEntryOf(e: JournalEntry, tx: ContributionTx): RoundEntry | undefined {
    return this.entryOf(e.contribution, tx, e.update, 'journaled');
  }

  /** A contribution and its update's bytes as a round's entry, or undefined when its shard is not in the corpus (logged). */
  private entryOf(contribution: Hash, tx: ContributionTx, bytes: Uint8Array, what: string): RoundEntry | undefined {
    const shard = this.shards.manifest.shards.find((x) => `0x${x.sha256}` === tx.shard);
    if (!shard) {
      this.log(`federation: dropped ${what} contribution ${contribution}: its shard ${tx.shard} is not in the corpus`);
      return undefined;
    }
    return {
      wallet: tx.miner,
      version: Number(tx.modelVersion),
      range: { shard: shard.name, offset: Number(tx.offset), length: Number(tx.length) },
      update: decodeUpdate(bytes, this.sizes),
      tokens: Number(tx.length),
      contribution,
      digest: tx.gradientDigest.slice(2),
    };
  }

  /** Whether this coordinator closes the round on the current version (RoundSchedule; always, without one). */
  private isRunner(): boolean {
    return !this.schedule || this.schedule.runner(this.current.version) === this.coordinator;
  }

  /**
   * Takes what a block brings from other coordinators: each contribution another coordinator accepted (unaggregated,
   * not too stale) joins the round, its update fetched by digest (the runner aggregates every coordinator's work; the
   * copy and duplicate checks see it); then, if the ledger's latest model version is not this coordinator's current
   * one, that version is followed (followLedger).
   */
  private async follow(block: Block): Promise<void> {
    if (this.stopped) return;
    const view = this.ledger.chain.view();
    for (const { tx, hash } of block.txs) {
      if (tx.type !== 'contribution' || tx.coordinator === this.coordinator || !this.foreignUpdate) continue;
      if ((view.contribution(hash)?.aggregatedIn ?? 0n) > 0n) continue;
      if (this.current.version - Number(tx.modelVersion) > this.cfg.maxStaleness) continue;
      if ([...this.round, ...this.pastRounds.flat()].some((e) => e.contribution === hash)) continue;
      const leftOut = (why: string): void =>
        this.log(`federation: contribution ${hash} of coordinator ${tx.coordinator} left out of the round: ${why}`);
      if (this.digests.has(tx.gradientDigest.slice(2))) {
        leftOut('an identical update is in this or a recent round already');
        continue;
      }
      try {
        const entry = this.entryOf(hash, tx, await this.foreignUpdate(tx), "another coordinator's");
        if (!entry) continue;
        // The bounds every submission is held to (the accepting coordinator checked them; a faulty one is not trusted).
        const { values, maxAbs } = updateStats(entry.update);
        if (values === 0 || values > this.maxValues() || !(maxAbs <= this.maxAbs(entry.version) * 1.02)) {
          leftOut(`its update carries ${values} values of magnitude up to ${maxAbs}, outside a task's bounds`);
          continue;
        }
        this.round.push(entry);
        this.digests.set(entry.digest, this.current.version);
      } catch (err) {
        leftOut(`its update ${(err as Error).message}`);
      }
    }
    const published = block.txs.find((t) => t.tx.type === 'model_version')?.tx;
    if (published?.type === 'model_version') this.followLedger(published.coordinator);
  }

  /**
   * Follows the ledger's latest model version when it is not this coordinator's current one (another coordinator
   * closed the round, or this one's own try lost to another's): its weights and momentum from the store (where the
   * model replica wrote them after recomputing them), and every known entry placed anew by what the ledger says of
   * it: not aggregated (and fresh enough) is in the open round, aggregated into one of the last versions is in a past
   * round, anything else is dropped.
   */
  private followLedger(publisher: Address): void {
    const view = this.ledger.chain.view();
    const latest = Number(view.meta().latestModelVersion);
    if (latest < this.current.version) return; // this coordinator's next version is still pending
    const recorded = view.modelVersion(BigInt(latest));
    if (latest === this.current.version && (latest === 0 || recorded?.manifestDigest === this.current.signed.manifestDigest)) return;
    const signed = this.store.load(latest);
    if (!signed || signed.manifestDigest !== recorded?.manifestDigest) {
      this.log(
        `federation: error: the ledger's model version ${latest} (${recorded?.manifestDigest}) is not in ${this.store.dir}; this coordinator keeps issuing tasks on version ${this.current.version}`,
      );
      return;
    }
    const parent = this.store.load(latest - 1);
    const weights = this.store.weights(signed);
    const known = [...this.round, ...this.pastRounds.flat()];
    this.current = { version: latest, signed, weights };
    this.momentum = this.store.loadMomentum(latest, this.modelConfig);
    this.recent.set(latest, weights);
    for (const v of this.recent.keys()) if (v < latest - this.cfg.maxStaleness || v > latest) this.recent.delete(v);
    for (const v of this.scoring.keys()) if (!this.recent.has(v)) this.scoring.delete(v);
    if (parent) this.recordChange(latest, this.recent.get(latest - 1) ?? this.store.weights(parent), weights);
    const kept = this.cfg.maxStaleness + 1;
    const past: RoundEntry[][] = Array.from({ length: kept }, () => []);
    this.round = [];
    for (const e of known) {
      const aggregatedIn = Number(view.contribution(e.contribution)?.aggregatedIn ?? 0n);
      const own = this.journal.has(e.contribution) || this.recentJournal.has(e.contribution);
      if (aggregatedIn === 0 && latest - e.version <= this.cfg.maxStaleness) this.round.push(e);
      else if (aggregatedIn > 0 && latest - aggregatedIn < kept) {
        past[latest - aggregatedIn]!.push(e);
        if (this.journal.has(e.contribution)) this.awaitingAggregation.add(e.contribution);
      } else if (own) {
        this.journal.remove(e.contribution);
        this.recentJournal.remove(e.contribution);
      }
    }
    this.pastRounds = past;
    for (const [d, v] of this.digests) if (v < latest - this.cfg.maxStaleness - 1) this.digests.delete(d);
    this.pruneJournal();
    this.store.prune(latest - this.cfg.maxStaleness);
    this.roundTarget = this.cfg.roundSize;
    this.extensions = 0;
    this.roundDeadline = Date.now() + this.cfg.roundMs;
    this.log(
      `federation: following model version ${latest}, published by ${publisher} (${recorded?.manifestDigest}); ${this.round.length} accepted update(s) carried into its round`,
    );
    // Its pools and reference tasks are prepared when this coordinator issues its first task on it (issueTask):
    // a coordinator no miner talks to spends nothing on a version.
  }

  get version(): number {
    return this.current.version;
  }

  get model(): SignedModelManifest {
    return this.current.signed;
  }

  /** The current version's weights (shared, not copied: callers must not change them). */
  currentWeights(): Weights {
    return this.current.weights;
  }

  /** The genesis's model config name (`ailo-tiny`, `ailo-1b`, ...). */
  get modelConfigName(): string {
    return this.ledger.chain.spec.model;
  }

  manifest(version: number): SignedModelManifest | undefined {
    return version === this.current.version ? this.current.signed : this.recent.has(version) ? this.store.load(version) : undefined;
  }

  roundStatus(): RoundStatus {
    const heldOutLoss = [...this.heldOutByVersion].sort((a, b) => a[0] - b[0]).map(([version, loss]) => ({ version, loss }));
    return {
      version: this.current.version,
      accepted: this.round.length,
      roundSize: this.roundTarget,
      deadline: this.roundDeadline,
      openTasks: this.tasks.open(),
      heldOutLoss,
      coordinator: this.coordinator,
      runner: this.schedule ? this.schedule.runner(this.current.version) : this.coordinator,
      coordinators: this.schedule?.directory(),
    };
  }

  /** Runs `fn` after everything queued before it: submissions and round closing never interleave. */
  private exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The bound on every value of an update: three times what the task's steps could move a weight by at lr. */
  maxAbs(version: number): number {
    return 3 * this.taskLr(version) * this.cfg.steps;
  }

  /** The local learning rate of tasks on `version` (see taskLearningRate). */
  taskLr(version: number): number {
    return taskLearningRate(this.cfg.lr, version);
  }

  /** Values an update may carry: each tensor's top-k and, for a matrix, its low-rank factors (rank LOW_RANK). */
  maxValues(): number {
    let n = 0;
    for (const s of paramSpecs(this.modelConfig))
      n += topkCount(numel(s.shape), this.cfg.density) + (s.shape.length === 2 ? lowRankValues(s.shape[0]!, s.shape[1]!) : 0);
    return n;
  }

  /**
   * A task for the wallet that signed `req`: refused (and nothing changes) unless the request names this coordinator,
   * the signature recovers to `req.wallet`, the request is fresh by this node's clock and its nonce is unused.
   */
  async issueTask(req: TaskRequest, signature: Signature): Promise<TrainingTask> {
    if (this.stopped) throw federationError('NO_MODEL', 'the coordinator is stopping');
    if (req.coordinator !== this.coordinator)
      throw federationError(
        'WRONG_COORDINATOR',
        `the task request is signed for coordinator ${req.coordinator}, and this is coordinator ${this.coordinator}: sign it for the coordinator GET /api/round names here`,
      );
    this.taskRequests.check(req);
    const network = this.ledger.network;
    const [signer] = await this.ledger.verifier.recoverMany([taskRequestDigest(req, network)], [signature]);
    if (signer !== req.wallet) {
      throw federationError(
        'BAD_TASK_SIGNATURE',
        `the task request is not signed by ${req.wallet} for this network (chainId ${network.chainId}, genesis ${network.genesisHash}; ` +
          `it recovers to ${signer ?? 'no key'}); sign the TaskRequest typed data with that wallet's key ` +
          '(EIP-712, domain "Ailo Network" version 1 with this chainId and the genesis hash as salt, both in GET /api/status)',
      );
    }
    // Again after the await: the same request may have been honoured meanwhile.
    this.taskRequests.check(req);
    if (this.stopped) throw federationError('NO_MODEL', 'the coordinator is stopping');
    let window = this.chooseWindow();
    if (window.exhausted && !this.isRunner()) {
      const runner = this.schedule?.runner(this.current.version);
      throw federationError(
        'ROUND_FULL',
        `this coordinator's share of the training rows is paid on version ${this.current.version}; coordinator ${runner ?? '(none live)'} closes this round: ask again in a few seconds`,
      );
    }
    if (window.exhausted) {
      // Every window of the training split is mostly paid on this version: its data is used up, so its round closes
      // now (no extension can be filled) and the task is on the next version.
      await this.exclusive(() => (this.chooseWindow().exhausted && this.isRunner() ? this.closeRound(true) : undefined));
      this.taskRequests.check(req);
      if (this.stopped) throw federationError('NO_MODEL', 'the coordinator is stopping');
      window = this.chooseWindow();
    }
    const task = this.taskFor(req.wallet, window.address);
    this.taskRequests.use(req);
    this.stats.recordSeen(req.wallet);
    // The version's pools and reference tasks, made while the miner trains (once per version).
    const { version, weights } = this.current;
    if (!this.scoring.has(version))
      void this.exclusive(() => this.versionScoring(version, weights)).catch((err: Error) =>
        this.log(`federation: scoring version ${version}: ${err.message}`),
      );
    return task;
  }

  /** Token ranges of the updates accepted on `version` (in the open round or the last ones): its paid rows. */
  private paidRanges(version: number): TokenRange[] {
    return [...this.round, ...this.pastRounds.flat()].filter((e) => e.version === version).map((e) => e.range);
  }

  /**
   * The task window for the next task on the current version, by these keys in order: fewest tokens paid on this
   * version; fewest in open tasks (two miners on one window race for its pay: the second is paid only for rows the
   * first did not have); fewest paid on the last `maxStaleness + 1` versions, the latest weighing most (the data is
   * gone through evenly, and a window's rows are not trained again while the model still holds its last update; an
   * old update re-sent is refused by the recomputation); packed against a shard's end or the live windows (no gap too
   * short for a window is left); at random among equals. `exhausted` when every window has more than half of its rows
   * paid on this version.
   */
  private chooseWindow(): { address: BatchAddress; exhausted: boolean } {
    const version = this.current.version;
    const lookback = this.cfg.maxStaleness + 1;
    const paid = this.paidRanges(version);
    const recent = [...this.round, ...this.pastRounds.flat()].filter((e) => e.version < version && e.version >= version - lookback);
    const open = this.tasks.live(version).map((t) => ({ shard: t.shardName, offset: t.offset, length: t.length }));
    const live = [...paid, ...open];
    let best: { address: BatchAddress; key: number[] } | undefined;
    let leastPaid = Infinity;
    for (const address of this.candidateWindows(live)) {
      const range = rangeOfAddress(address);
      const paidNow = paid.reduce((sum, p) => sum + sharedTokens(range, p), 0);
      const paidRecently = recent.reduce((sum, e) => sum + sharedTokens(range, e.range) * (lookback + 1 - (version - e.version)), 0);
      const inOpen = open.reduce((sum, o) => sum + sharedTokens(range, o), 0);
      let gap = Math.min(range.offset, this.shards.shard(range.shard).tokens - (range.offset + range.length));
      for (const l of live)
        if (l.shard === range.shard)
          gap = Math.min(gap, Math.max(range.offset - (l.offset + l.length), l.offset - (range.offset + range.length), 0));
      leastPaid = Math.min(leastPaid, paidNow / range.length);
      const key = [paidNow, inOpen, paidRecently, gap];
      if (!best || lexicographicLess(key, best.key)) best = { address, key };
    }
    return { address: best!.address, exhausted: leastPaid > 0.5 };
  }

  /**
   * The windows chooseWindow weighs, in random order: every one on a split of at most FULL_SCAN_WINDOWS windows;
   * on a larger one (a real corpus: millions), a task request must not scan them all, so the first and last of each
   * shard, the neighbours of each live window (where packing puts the next one) and RANDOM_WINDOWS drawn at random.
   */
  private candidateWindows(live: TokenRange[]): BatchAddress[] {
    const own = this.ownWindows();
    return own ? this.windowsAmong(live).filter((a) => own(a)) : this.windowsAmong(live);
  }

  /**
   * With several coordinators, each issues windows from its own share of each shard's rows (the i-th of N equal
   * parts, i its place in genesis), so two coordinators never hand out overlapping windows at once (each knows only
   * its own open tasks). Undefined (every window) with one coordinator.
   */
  private ownWindows(): ((a: BatchAddress) => boolean) | undefined {
    const { index, count } = this.region;
    if (count <= 1) return undefined;
    const stride = this.cfg.seqLen + 1;
    const rowsPerWindow = this.cfg.steps * this.cfg.batchSize;
    const inShare = (a: BatchAddress): boolean => {
      const rows = this.windowIndex.get(a.shard)!.count + rowsPerWindow - 1;
      const row = a.offset / stride;
      return row >= Math.floor((rows * index) / count) && row + rowsPerWindow <= Math.floor((rows * (index + 1)) / count);
    };
    return inShare;
  }

  private windowsAmong(live: TokenRange[]): BatchAddress[] {
    const all = this.taskAddresses;
    if (all.length <= FULL_SCAN_WINDOWS) {
      const start = randomInt(all.length);
      return all.map((_, k) => all[(start + k) % all.length]!);
    }
    const stride = this.cfg.seqLen + 1;
    const length = this.cfg.steps * this.cfg.batchSize * stride;
    const picked = new Set<number>();
    const at = (shard: string, offset: number): void => {
      const s = this.windowIndex.get(shard);
      const i = Math.floor(offset / stride);
      if (s && offset >= 0 && i < s.count) picked.add(s.first + i);
    };
    for (const [shard, s] of this.windowIndex) {
      picked.add(s.first);
      picked.add(s.first + s.count - 1);
      for (const l of live) {
        if (l.shard !== shard) continue;
        at(shard, l.offset - length);
        at(shard, Math.ceil((l.offset + l.length) / stride) * stride);
      }
    }
    for (let k = 0; k < RANDOM_WINDOWS; k++) picked.add(randomInt(all.length));
    const order = [...picked];
    for (let i = order.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order.map((i) => all[i]!);
  }

  /** The most bytes an update of a task may have: its header and at most `maxValues` values of 9 bytes. */
  maxUpdateBytes(): number {
    let headerBytes = 8;
    // Per tensor: name, numel, encoding, count, rank, scale, index bytes; per matrix: row length and a scale per factor vector.
    for (const s of paramSpecs(this.modelConfig))
      headerBytes += 1 + s.name.length + 9 + 1 + 8 + (s.shape.length === 2 ? 4 + 8 * LOW_RANK : 0);
    return headerBytes + 9 * this.maxValues();
  }

  private taskFor(wallet: Address, address: BatchAddress): TrainingTask {
    const shard = this.shards.shard(address.shard);
    const maxValues = this.maxValues();
    return this.tasks.issue({
      wallet,
      modelVersion: this.current.version,
      shardName: shard.name,
      shardDigest: shard.sha256,
      offset: address.offset,
      length: address.batchSize * (address.seqLen + 1),
      batchSize: this.cfg.batchSize,
      seqLen: this.cfg.seqLen,
      steps: this.cfg.steps,
      lr: this.taskLr(this.current.version),
      deadline: Date.now() + this.cfg.taskTtlMs,
      maxAbs: this.maxAbs(this.current.version),
      density: this.cfg.density,
      maxValues,
      maxBytes: this.maxUpdateBytes(),
    });
  }

  /** Gives a task back (its miner stopped); see {@link TaskBook.abandon}. Returns the task in its state after. */
  abandonTask(id: Hex, wallet: Address): TrainingTask {
    const before = this.tasks.get(id)?.state;
    const task = this.tasks.abandon(id, wallet);
    if (before === 'open') this.log(`federation: task ${id.slice(0, 10)} abandoned by ${wallet}`);
    if (before === 'busy') this.log(`federation: task ${id.slice(0, 10)} given back by ${wallet} while its submission is verified`);
    return task;
  }

  taskTokens(task: TrainingTask): Uint16Array {
    return this.shards.readTokens(task.shardName, task.offset, task.length);
  }

  /** Checks that need no body; throws the error the submission gets. */
  precheck(f: SubmissionFields): TrainingTask {
    const task = this.tasks.claimable(f.taskId, f.wallet);
    if (f.modelVersion !== task.modelVersion) {
      throw federationError(
        'VERSION_MISMATCH',
        `task ${task.id} is on model version ${task.modelVersion}, the submission says ${f.modelVersion}`,
      );
    }
    if (this.current.version - task.modelVersion > this.cfg.maxStaleness) {
      throw federationError(
        'STALE_VERSION',
        `version ${task.modelVersion} is ${this.current.version - task.modelVersion} versions behind the current ${this.current.version} (window: ${this.cfg.maxStaleness}); fetch the model and ask for a new task`,
      );
    }
    if (f.batchSize !== task.batchSize)
      throw federationError('BAD_REQUEST', `batchSize ${f.batchSize} is not the task's ${task.batchSize}`);
    return task;
  }

  /** Verifies, scores and records one submission; throws a FederationError naming the reason for a refusal. */
  submit(f: SubmissionFields, body: Uint8Array): Promise<AcceptedSubmission> {
    return this.exclusive(async () => {
      const task = this.precheck(f); // again: the round may have moved on while the body arrived
      const digest = sha256Hex(body);
      if (this.digests.has(digest))
        throw federationError('DUPLICATE_UPDATE', `an identical update (sha256 ${digest}) was already submitted`);
      let update: ModelUpdate;
      try {
        update = decodeUpdate(body, this.sizes);
      } catch (err) {
        if (!(err instanceof UpdateCodecError)) throw err;
        const code =
          err.code === UpdateCodecErrorCode.NON_FINITE
            ? 'NON_FINITE'
            : err.code === UpdateCodecErrorCode.SHAPE_MISMATCH || err.code === UpdateCodecErrorCode.UNKNOWN_TENSOR
              ? 'SHAPE_MISMATCH'
              : 'BAD_UPDATE';
        throw federationError(code, `the update does not decode: ${err.message}`);
      }
      const { values, maxAbs } = updateStats(update);
      if (values > task.maxValues)
        throw federationError(
          'TOO_DENSE',
          `the update carries ${values} values; the task allows ${task.maxValues} (density ${task.density})`,
        );
      if (values === 0) throw federationError('BAD_UPDATE', 'the update carries no values');
      // Written so that NaN fails it too (a NaN compares false either way).
      if (!(maxAbs <= task.maxAbs * 1.02))
        throw federationError(
          'NORM_EXCEEDED',
          `a value of magnitude ${maxAbs.toExponential(3)} exceeds the task's bound ${task.maxAbs.toExponential(3)}`,
        );
      this.checkNotCopied(update);
      const base = this.recent.get(task.modelVersion);
      if (!base) throw federationError('STALE_VERSION', `version ${task.modelVersion} is no longer kept; ask for a new task`);
      task.state = 'busy';
      try {
        const scoring = await busyWithoutMemory(this.versionScoring(task.modelVersion, base));
        const tokens = this.taskTokens(task);
        const range = { shard: task.shardName, offset: task.offset, length: task.length };
        // The control whose reference rows overlap the task's least.
        const control = scoring.controls.reduce((a, b) => (sharedTokens(b.range, range) < sharedTokens(a.range, range) ? b : a));
        const rows = taskRowsOf(tokens, task.seqLen);
        const paid = this.paidRanges(task.modelVersion);
        let m: QualityMeasurement;
        try {
          unpaidRows(rows, range, paid); // before the recomputation: it costs nothing
          if (this.cfg.recomputeTolerance > 0) await busyWithoutMemory(this.checkRecomputed(task, base, tokens, update, f));
          m = await this.meter.measure(base, scoring.pool, update, rows, range, control, paid);
        } catch (err) {
          if (!(err instanceof UnpaidRowsError)) throw err;
          task.state = 'refused';
          this.log(
            `federation: refused task ${task.id.slice(0, 10)} from ${f.wallet} (v${task.modelVersion}${trainedWith(f)}): ${err.message}`,
          );
          throw federationError('TOO_LITTLE_WORK', err.message);
        }
        const spec = this.ledger.chain.spec;
        const verdict = judge(m, scoring.reference, this.cfg.score, spec.rewards);
        if (!verdict.accepted) {
          // One scored try per task: the rows are drawn at random, so a second try would be a second lottery ticket.
          task.state = 'refused';
          this.log(
            `federation: refused task ${task.id.slice(0, 10)} from ${f.wallet} (v${task.modelVersion}${trainedWith(f)}): ${verdict.code}, work ${verdict.workRatio.toFixed(2)} of the reference; ${describeMeasurement(m)}`,
          );
          throw federationError(verdict.code, verdict.message);
        }
        const reward = contributionReward(spec.rewards, verdict.quality);
        const tx = signTx(
          {
            type: 'contribution',
            coordinator: this.coordinator,
            miner: f.wallet,
            taskId: task.id,
            modelVersion: BigInt(task.modelVersion),
            shard: `0x${task.shardDigest}`,
            offset: BigInt(task.offset),
            length: BigInt(task.length),
            gradientDigest: `0x${digest}`,
            quality: verdict.quality,
            reward,
          } satisfies Omit<ContributionTx, 'signature'>,
          this.key,
          this.ledger.network,
        );
        // Journal first: a crash after the ledger has the contribution must not lose its update.
        const tokensTrained = task.steps * task.batchSize * task.seqLen;
        this.journal.add({ contribution: tx.hash, tx: tx.bytes, update: body, wallet: f.wallet, tokens: tokensTrained, digest });
        try {
          await this.ledger.submit(tx);
        } catch (err) {
          this.journal.remove(tx.hash);
          throw err;
        }
        // Kept by digest for as long as the data folder: every version's recomputation needs its updates.
        this.store.putUpdate(digest, body);
        task.state = 'used';
        this.digests.set(digest, this.current.version);
        this.round.push({
          wallet: f.wallet,
          version: task.modelVersion,
          range,
          update,
          // FedAvg weighs by the window's tokens as the contribution records them, so anyone can recompute the average.
          tokens: task.length,
          contribution: tx.hash,
          digest,
        });
        this.stats.recordWork(f.wallet, tokensTrained);
        this.log(
          `federation: accepted task ${task.id.slice(0, 10)} from ${f.wallet} (v${task.modelVersion}${trainedWith(f)}, quality ${verdict.quality / 1000}x, work ${verdict.workRatio.toFixed(2)} of the reference; ${describeMeasurement(m)})`,
        );
        const accepted: AcceptedSubmission = {
          taskId: task.id,
          contribution: tx.hash,
          quality: verdict.quality,
          reward,
          measurement: m,
          workRatio: verdict.workRatio,
          gradientDigest: `0x${digest}`,
          roundVersion: this.current.version,
        };
        await this.maybeCloseRound();
        return accepted;
      } catch (err) {
        this.tasks.release(task);
        if (err instanceof TxError) this.log(`federation: contribution refused by the ledger: ${err.message}`);
        throw err;
      }
    });
  }

  /**
   * Proof-of-learning check by recomputation (in the manner of Jia et al. 2021 and Gensyn's Verde, here over the whole
   * task): the coordinator trains the task itself from its exact inputs (the version's weights, the task's tokens,
   * steps and lr) and compresses the result as ailo-miner does; the submission's weight change must be within
   * `recomputeTolerance` of it (relative L2 distance), so neither another training nor a rescaled one passes. Measured
   * on the devnet (versions 13-15, two windows): native webgpu against the coordinator's cpu 0.0003-0.0006; the same
   * tokens trained one version earlier 0.13-0.18, two versions earlier 0.30-0.40: a miner paid once for a window
   * cannot be paid again for the same training on a later version. Refused: UPDATE_MISMATCH (the task is closed, one
   * scored try).
   */
  private async checkRecomputed(
    task: TrainingTask,
    base: Weights,
    tokens: Uint16Array,
    update: ModelUpdate,
    f: SubmissionFields,
  ): Promise<void> {
    const wallet = f.wallet;
    // In the moments' format the miner trained with where it fits here (8-bit moments move an update about 2% from
    // float32 ones, within the default tolerance), else in what fits.
    // A cuda miner's mixed precision (".../fp16") is recomputed with its float16 rounding emulated in float32 (cuBLAS
    // sums float16 products in float32 too), where the fused layout fits.
    const memory = this.trainMemory();
    const stated = f.settings?.endsWith('/int8') ? 'int8' : 'float32';
    const moments = chooseTrainingSettings(this.modelConfig, task.batchSize, task.seqLen, memory, stated).fits ? stated : undefined;
    const precision = f.settings?.endsWith('/fp16') ? 'fp16-emulated' : 'fp32';
    const result = await trainLocally(
      this.modelConfig,
      'cpu',
      base,
      tokens,
      { steps: task.steps, batchSize: task.batchSize, seqLen: task.seqLen, lr: task.lr },
      { memoryBytes: memory, moments, precision },
    );
    collectGarbage(); // the training's arrays (gigabytes on ailo-1b), before the compression holds a second update
    const { sent: own } = await compressOffThread(this.modelConfig, result!.update, { density: task.density, maxAbs: task.maxAbs });
    result!.update.clear();
    const distance = weightChangeDistance(update, own);
    if (distance <= this.cfg.recomputeTolerance) return;
    task.state = 'refused';
    const message =
      `the update is not what the task's training gives: its weight change is ${(distance * 100).toFixed(1)}% away from the coordinator's own ` +
      `recomputation of the task (at most ${this.cfg.recomputeTolerance * 100}%): train exactly the task's ${task.steps} steps from model version ` +
      `${task.modelVersion} on its tokens at lr ${task.lr}, compressed as ailo-miner does, and send that update only`;
    this.log(
      `federation: refused task ${task.id.slice(0, 10)} from ${wallet} (v${task.modelVersion}): UPDATE_MISMATCH, ${(distance * 100).toFixed(1)}% away`,
    );
    throw federationError('UPDATE_MISMATCH', message);
  }

  /**
   * Refuses an update that is (partly) another's: the same values as an update accepted in this or the previous
   * round, or as a recently published model change, for `copyFraction` of what it sends or more; or a rescaled copy
   * (cosine above `copyCosine`).
   */
  private checkNotCopied(update: ModelUpdate): void {
    for (const other of [...this.round, ...this.pastRounds.flat()]) {
      const shared = Math.max(sharedValueFraction(update, other.update), sharedValueFraction(other.update, update));
      if (shared >= this.cfg.copyFraction) {
        throw federationError(
          'COPIED_UPDATE',
          `${(shared * 100).toFixed(0)}% of the update's values are those of an accepted submission (${other.contribution}); only your own training is paid: train on your task's tokens`,
        );
      }
      const cos = updateCosine(update, other.update);
      if (cos > this.cfg.copyCosine) {
        throw federationError(
          'COPIED_UPDATE',
          `the update is a rescaled copy of an accepted submission (${other.contribution}, cosine ${cos.toFixed(4)}); only your own training is paid`,
        );
      }
    }
    for (const [version, change] of this.changes) {
      const shared = sharedValueFraction(update, change);
      if (shared >= this.cfg.copyFraction) {
        throw federationError(
          'COPIED_UPDATE',
          `${(shared * 100).toFixed(0)}% of the update's values are those of the published change to model version ${version}; a resold change is not training: train on your task's tokens`,
        );
      }
    }
  }

  /**
   * What the coordinator's own trainings may plan for, bytes: trainMemoryGiB, or what the OS reports available now plus
   * the version's weights, which a plan counts as the task's start copy and which this node holds already.
   */
  private trainMemory(): number {
    return this.cfg.trainMemoryGiB > 0 ? this.cfg.trainMemoryGiB * 2 ** 30 : freemem() + 4 * paramCount(this.modelConfig);
  }

  /** The scoring pools and reference of `version`, prepared once (the first caller waits; later ones reuse it). */
  private versionScoring(version: number, base: Weights): Promise<VersionScoring> {
    let scoring = this.scoring.get(version);
    if (!scoring) {
      scoring = this.prepareScoring(version, base);
      this.scoring.set(version, scoring);
      scoring.catch(() => this.scoring.delete(version));
    }
    return scoring;
  }

  /**
   * Draws the version's pools (with their losses) and trains the reference tasks: random task windows, the tasks'
   * own steps and learning rate, compressed exactly as a miner compresses, measured like any submission.
   */
  private async prepareScoring(version: number, base: Weights): Promise<VersionScoring> {
    const c = this.cfg;
    const rowOf = (a: BatchAddress): PoolRow => ({
      shard: a.shard,
      offset: a.offset,
      ids: Array.from(this.shards.readTokens(a.shard, a.offset, a.seqLen + 1)),
    });
    const draw = (from: BatchAddress[], n: number): PoolRow[] => sampleIndices(from.length, n).map((i) => rowOf(from[i]!));
    const pool = await this.meter.pool(
      base,
      draw(this.trainRows, 4 * c.score.unassignedRows),
      draw(this.evalRows, 4 * c.score.heldOutRows),
    );
    // The version's held-out loss on a fixed set of eval rows (the same for every version): training's progress.
    const heldOutLoss = await this.evalLoss(base, 'test');
    this.heldOutByVersion.set(version, heldOutLoss);
    for (const v of this.heldOutByVersion.keys()) if (v <= version - 50) this.heldOutByVersion.delete(v);
    this.log(
      `federation: version ${version} held-out loss ${heldOutLoss.toFixed(4)} (${Math.min(128, Math.floor(this.evalRows.length / 2))} eval rows)`,
    );
    // Reference tasks on random windows that share as few tokens as the split allows (on the devnet's small corpus two
    // windows overlap a little; rows in the overlap are left out of each one's score). Each is the other's control,
    // and their mean task-specific gain is the yardstick (windows differ by about ±30%).
    const order = Array.from(this.taskAddresses.keys());
    for (let i = order.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const windows: BatchAddress[] = [this.taskAddresses[order[0]!]!];
    while (windows.length < c.referenceTasks && windows.length < this.taskAddresses.length) {
      let best: BatchAddress | undefined;
      let bestShared = Infinity;
      for (const i of order) {
        const a = this.taskAddresses[i]!;
        const shared = windows.reduce((n, w) => n + sharedTokens(rangeOfAddress(a), rangeOfAddress(w)), 0);
        if (!windows.includes(a) && shared < bestShared) [best, bestShared] = [a, shared];
      }
      windows.push(best!);
    }
    if (windows.length < 2) throw new Error('the training split holds only one task window; the reference tasks need two');
    const trained: { update: ModelUpdate; range: TokenRange; rows: number[][]; seconds: number; how: string }[] = [];
    for (const a of windows) {
      const range = rangeOfAddress(a);
      const tokens = this.shards.readTokens(range.shard, range.offset, range.length);
      const started = performance.now();
      const result = await trainLocally(
        this.modelConfig,
        'cpu',
        base,
        tokens,
        { steps: c.steps, batchSize: c.batchSize, seqLen: c.seqLen, lr: this.taskLr(version) },
        { memoryBytes: this.trainMemory() },
      );
      collectGarbage(); // the training's arrays, before the compression holds a second update
      const { sent: update } = await compressOffThread(this.modelConfig, result!.update, {
        density: c.density,
        maxAbs: this.maxAbs(version),
      });
      result!.update.clear();
      const seconds = (performance.now() - started) / 1000;
      trained.push({ update, range, rows: taskRowsOf(tokens, c.seqLen), seconds, how: settingsName(result!.settings) });
    }
    // One at a time: the meter's session holds one set of weights.
    const controls: ControlModel[] = [];
    for (const t of trained) controls.push(await this.meter.control(base, pool, t.update, t.range));
    const gains: number[] = [];
    for (let i = 0; i < trained.length; i++) {
      const t = trained[i]!;
      const m = await this.meter.measure(base, pool, t.update, t.rows, t.range, controls[(i + 1) % controls.length]!);
      this.log(
        `federation: version ${version} reference task ${i + 1} (${t.seconds.toFixed(1)} s to train, ${t.how}): ${describeMeasurement(m)}`,
      );
      gains.push(m.specificGain);
    }
    const reference: Reference = { gain: gains.reduce((a, b) => a + b, 0) / gains.length };
    if (!(reference.gain > 0))
      this.log(
        `federation: warning: version ${version}'s reference tasks show no task-specific gain; submissions on it will be refused as TOO_LITTLE_WORK`,
      );
    return { pool, reference, controls, heldOutLoss };
  }

  /** Keeps version's change from its parent in sparse form (wider than a task's top-k) for the copy check. */
  private recordChange(version: number, parent: Weights, weights: Weights): void {
    const change = weightDelta(parent, weights);
    this.changes.set(
      version,
      compressUpdate(change, undefined, {
        density: Math.min(1, 4 * this.cfg.density),
        maxAbs: Number.MAX_VALUE,
        encoding: 'f32',
        rowLengths: matrixRowLengths(this.modelConfig),
      }).sent,
    );
    for (const v of this.changes.keys()) if (v < version - this.cfg.maxStaleness) this.changes.delete(v);
  }

  private pruneJournal(): void {
    const view = this.ledger.chain.view();
    for (const hash of this.awaitingAggregation) {
      if ((view.contribution(hash)?.aggregatedIn ?? 0n) > 0n) {
        this.journal.moveTo(this.recentJournal, hash);
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
    if (this.round.length < this.roundTarget && now < this.roundDeadline) return;
    if (!this.isRunner()) return; // another live coordinator closes this round
    // Another coordinator's next version is pending already (views of who is live differed): the ledger takes one.
    if (this.ledger.pool.pendingState.meta().latestModelVersion > BigInt(this.current.version)) return;
    await this.closeRound();
  }

  /**
   * Mean loss (nats) of `weights` on one of two fixed halves of the eval split's rows (up to 128 each, the same for
   * every version): `test` (odd rows) is the held-out loss published for each version, `validation` (even rows) is
   * what the outer step is tuned on, so the published figure is never the one a step was chosen by.
   */
  private async evalLoss(weights: Weights, half: 'validation' | 'test'): Promise<number> {
    this.evalHalves ??= {
      validation: this.evalRowsOf((i) => i % 2 === 0),
      test: this.evalRowsOf((i) => i % 2 === 1),
    };
    const losses = await this.meter.rowLosses(weights, this.evalHalves[half]);
    return losses.reduce((a, b) => a + b, 0) / losses.length;
  }

  /** The tokens of up to 128 eval rows whose index passes `keep`, read once. */
  private evalRowsOf(keep: (i: number) => boolean): number[][] {
    return this.evalRows
      .filter((_, i) => keep(i))
      .slice(0, 128)
      .map((a) => Array.from(this.shards.readTokens(a.shard, a.offset, a.seqLen + 1)));
  }

  /**
   * The outer step from `parent` along the round's FedAvg `mean`, with the step controlled on the validation rows:
   * the Nesterov step at the outer lr, then at half of it (backtracking); if both raise validation loss, the momentum
   * is dropped (adaptive restart on the function value, O'Donoghue & Candes 2015) and the plain step is tried at
   * the lr and its halves down to a sixteenth; if every one raises it, the version keeps its parent's weights with
   * the momentum reset. The contributions are recorded and paid either way: their work was verified one by one.
   * (The devnet's rounds of four 16-step tasks overshoot after the first fast drop: 7.52 -> 7.76 at the full rate,
   * 7.53 still at a sixteenth with the momentum, `bench/honest-devnet.sh`.)
   */
  private async controlledOuterStep(
    parent: Weights,
    mean: Weights,
  ): Promise<{ weights: Weights; momentum: Weights; lowered: boolean; what: string; step: OuterStepRecord }> {
    const base = await this.evalLoss(parent, 'validation');
    const ppm = Math.round(this.cfg.outerLr * 1e6);
    // Without a momentum (version 0, or a momentum file lost in a crash) every step is a restart, and says so: the
    // record must let an auditor's replay use exactly the momentum this step used.
    const kept = this.momentum !== undefined;
    const tries: OuterStepRecord[] = [
      { outerLrPpm: ppm, momentumRestart: !kept },
      { outerLrPpm: Math.round(ppm / 2), momentumRestart: !kept },
      ...[1, 2, 4, 8, 16].map((k) => ({ outerLrPpm: Math.round(ppm / k), momentumRestart: true })),
    ].filter((t, i, all) => all.findIndex((u) => u.outerLrPpm === t.outerLrPpm && u.momentumRestart === t.momentumRestart) === i);
    const describe = (t: OuterStepRecord): string => `outer lr ${t.outerLrPpm / 1e6}${t.momentumRestart ? ', momentum restarted' : ''}`;
    const seen: string[] = [];
    for (const t of tries) {
      const step = recordedStep(parent, this.momentum, mean, t);
      // Defence in depth: a non-finite weight (in rows no validation row reaches, say) is never published.
      const bad = firstNonFinite(step.weights);
      if (bad) {
        this.log(`federation: error: the round's average gives tensor ${bad} a non-finite value; the parent's weights are kept`);
        break;
      }
      const loss = await this.evalLoss(step.weights, 'validation');
      if (loss < base - MIN_VALIDATION_GAIN)
        return {
          ...step,
          step: t,
          lowered: true,
          what: `${describe(t)}: validation loss ${base.toFixed(4)} -> ${loss.toFixed(4)}${seen.length ? ` (not lower by ${MIN_VALIDATION_GAIN} at ${seen.join(', ')})` : ''}`,
        };
      seen.push(`${describe(t)} to ${loss.toFixed(4)}`);
    }
    const keep: OuterStepRecord = { outerLrPpm: 0, momentumRestart: true };
    return {
      ...recordedStep(parent, this.momentum, mean, keep),
      step: keep,
      lowered: false,
      what: `no outer step lowers validation loss ${base.toFixed(4)} by ${MIN_VALIDATION_GAIN} (${seen.join(', ')})`,
    };
  }

  /**
   * FedAvg + controlled outer step, then the next version: chunks and manifest first, then its ledger record. When no
   * step along the round's average lowers validation loss, the round is extended by another `roundSize` updates (an
   * average of more tasks is less noisy), up to MAX_ROUND_EXTENSIONS times; after that the version is published with
   * its parent's weights and the momentum reset, so that the contributions are aggregated and the round moves on.
   */
  private async closeRound(dataExhausted = false): Promise<void> {
    const entries = this.round;
    if (entries.length === 0) return;
    const parent = this.current;
    const { weights, momentum, lowered, what, step } = await this.controlledOuterStep(
      parent.weights,
      federatedAverage(parent.weights, entries),
    );
    // Counted in extensions, not updates: a round closed by its deadline with few updates is extended at most as often.
    if (!lowered && this.extensions < MAX_ROUND_EXTENSIONS && !dataExhausted) {
      this.extensions++;
      this.roundTarget = entries.length + this.cfg.roundSize;
      this.roundDeadline = Date.now() + this.cfg.roundMs;
      this.log(`federation: round of version ${parent.version} extended to ${this.roundTarget} updates: ${what}`);
      return;
    }
    this.roundTarget = this.cfg.roundSize;
    this.extensions = 0;
    const version = parent.version + 1;
    // Another coordinator's version may have come in while the step was evaluated: then this try is not written (it
    // would overwrite that version in the store, which the model check wrote), and the ledger's version is followed.
    const pending = this.ledger.pool.pendingState.modelVersion(BigInt(version));
    if (pending || this.current !== parent) {
      this.log(
        `federation: not closing the round on version ${parent.version}: version ${version} came from another coordinator meanwhile`,
      );
      return;
    }
    const signed = this.store.publish(this.ledger.chain.spec.model, this.modelConfig, version, weights, this.key, this.coordinator);
    const tx = signTx(
      {
        type: 'model_version',
        coordinator: this.coordinator,
        version: BigInt(version),
        parentVersion: BigInt(parent.version),
        manifestDigest: signed.manifestDigest,
        contributions: entries.map((e) => e.contribution),
        ...step,
      } satisfies Omit<ModelVersionTx, 'signature'>,
      this.key,
      this.ledger.network,
    );
    // The momentum first: a crash after the ledger takes the version must not leave it without one.
    this.store.saveMomentum(version, this.modelConfig, momentum);
    await this.ledger.submit(tx);
    // Journal entries go once a block holds this version (pruneJournal); a crash before that replays the round.
    for (const e of entries) this.awaitingAggregation.add(e.contribution);
    this.current = { version, signed, weights };
    this.momentum = momentum;
    this.recent.set(version, weights);
    for (const v of this.recent.keys()) if (v < version - this.cfg.maxStaleness) this.recent.delete(v);
    for (const v of this.scoring.keys()) if (!this.recent.has(v)) this.scoring.delete(v);
    this.recordChange(version, parent.weights, weights);
    for (const [d, v] of this.digests) if (v < version - this.cfg.maxStaleness - 1) this.digests.delete(d);
    this.store.prune(version - this.cfg.maxStaleness);
    const kept = this.cfg.maxStaleness + 1;
    for (const e of this.pastRounds.slice(kept - 1).flat()) this.recentJournal.remove(e.contribution);
    this.pastRounds = [entries, ...this.pastRounds].slice(0, kept);
    this.round = [];
    this.roundDeadline = Date.now() + this.cfg.roundMs;
    this.log(
      `federation: published model version ${version} from ${entries.length} updates (${what}${lowered ? '' : ": the parent's weights are kept and the momentum reset"}; ${tx.hash})`,
    );
    // The new version's pools and reference task, ready before its first submission arrives.
    void this.exclusive(() => this.versionScoring(version, weights)).catch((err: Error) =>
      this.log(`federation: scoring version ${version}: ${err.message}`),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.unsubscribeChain?.();
    await this.exclusive(() => undefined);
    await this.meter.dispose();
  }
}

/**
 * `work`, with a training the coordinator has not the memory for (a reference task, a recomputation) answered 503
 * VERIFIER_BUSY: the task is released, not refused, and the miner's client sends it again after a backoff.
 */
async function busyWithoutMemory<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (!(err instanceof TrainerError && err.code === TrainerErrorCode.OUT_OF_MEMORY)) throw err;
    throw federationError(
      'VERIFIER_BUSY',
      `the coordinator cannot verify the update now: its own training of the task does not fit its memory (${err.message}); the task stays yours: send it again shortly`,
    );
  }
}

/** ", trained cpu/layerwise/int8" for a log line, when the miner said how it trained. */
function trainedWith(f: SubmissionFields): string {
  return f.settings ? `, trained ${f.settings}` : '';
}
