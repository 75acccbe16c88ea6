/**
 * The state transition: what one transaction (already signature-checked) does to the ledger.
 * Deterministic; every node and the audit run exactly this. A rejected transaction leaves the overlay unchanged.
 */
import type { Address } from '../../protocol/address.js';
import { TxError, TxErrorCode } from '../errors.js';
import { contributionReward } from '../rewards.js';
import { evidenceFault } from '../consensus/evidence.js';
import type { ChainSpec } from '../spec.js';
import type { Hash, SignedTx, Tx, TxType } from '../tx/types.js';
import { StateOverlay } from './world-state.js';

const MAX_U256 = (1n << 256n) - 1n;
/** The largest outer learning rate a model version may record, in millionths (10). */
export const MAX_OUTER_LR_PPM = 10_000_000;

export function applyTx(state: StateOverlay, signed: SignedTx, spec: ChainSpec): void {
  // A transfer checks everything before its first write, so it needs no scratch overlay to stay all-or-nothing.
  if (signed.tx.type === 'transfer') return applyInto(state, signed, spec);
  const scratch = new StateOverlay(state);
  applyInto(scratch, signed, spec);
  state.absorb(scratch);
}

function requireCoordinator(tx: Exclude<Tx, { type: 'transfer' | 'equivocation' }>, spec: ChainSpec): void {
  if (!spec.coordinators.includes(tx.coordinator)) {
    throw new TxError(TxErrorCode.NOT_COORDINATOR, `${tx.coordinator} is not a coordinator of this chain`);
  }
}

function mint(state: StateOverlay, to: Address, amount: bigint): void {
  const account = state.account(to);
  state.setAccount(to, { ...account, balance: account.balance + amount });
  const meta = state.meta();
  state.setMeta({ ...meta, totalSupply: meta.totalSupply + amount });
}

/** What one transaction of a type does to the state; throws TxError for a transaction the ledger refuses. */
type Transition<T extends Tx> = (state: StateOverlay, tx: T, hash: Hash, spec: ChainSpec) => void;

/** The state transition of each transaction type (the compiler checks there is one per member of `Tx`). */
const TRANSITIONS: { [K in TxType]: Transition<Extract<Tx, { type: K }>> } = {
  transfer: (state, tx) => {
    if (tx.amount <= 0n || tx.amount > MAX_U256)
      throw new TxError(TxErrorCode.BAD_AMOUNT, 'amount must be a positive integer of base units');
    const sender = state.account(tx.from);
    if (tx.nonce !== sender.nonce) {
      throw new TxError(
        tx.nonce < sender.nonce ? TxErrorCode.BAD_NONCE : TxErrorCode.NONCE_GAP,
        `nonce ${tx.nonce} does not match the sender's next nonce ${sender.nonce}`,
      );
    }
    if (sender.balance < tx.amount) {
      throw new TxError(TxErrorCode.INSUFFICIENT_BALANCE, `balance ${sender.balance} is below the amount ${tx.amount}`);
    }
    state.setAccount(tx.from, { balance: sender.balance - tx.amount, nonce: sender.nonce + 1n });
    const receiver = state.account(tx.to);
    state.setAccount(tx.to, { ...receiver, balance: receiver.balance + tx.amount });
  },
  contribution: (state, tx, hash, spec) => {
    requireCoordinator(tx, spec);
    const { minQuality, maxQuality } = spec.rewards;
    if (state.taskUsed(tx.taskId)) throw new TxError(TxErrorCode.DUPLICATE, `task ${tx.taskId} already has a contribution`);
    if (tx.modelVersion > state.meta().latestModelVersion) {
      throw new TxError(TxErrorCode.BAD_MODEL_VERSION, `model version ${tx.modelVersion} is not published yet`);
    }
    if (tx.length <= 0n) throw new TxError(TxErrorCode.MALFORMED, 'a contribution must name at least one token');
    if (tx.quality < minQuality || tx.quality > maxQuality) {
      throw new TxError(TxErrorCode.BAD_REWARD, `quality ${tx.quality} is outside ${minQuality}..${maxQuality}`);
    }
    const expected = contributionReward(spec.rewards, tx.quality);
    if (tx.reward !== expected)
      throw new TxError(TxErrorCode.BAD_REWARD, `reward ${tx.reward} should be ${expected} for quality ${tx.quality}`);
    state.markTaskUsed(tx.taskId, hash);
    state.setContribution(hash, { taskId: tx.taskId, miner: tx.miner, modelVersion: tx.modelVersion, aggregatedIn: 0n });
    mint(state, tx.miner, tx.reward);
  },
  model_version: (state, tx, hash, spec) => {
    requireCoordinator(tx, spec);
    const meta = state.meta();
    if (tx.parentVersion !== meta.latestModelVersion || tx.version !== meta.latestModelVersion + 1n) {
      throw new TxError(
        TxErrorCode.BAD_MODEL_VERSION,
        `version ${tx.version} with parent ${tx.parentVersion} does not follow the latest version ${meta.latestModelVersion}`,
      );
    }
    if (tx.outerLrPpm > MAX_OUTER_LR_PPM)
      throw new TxError(TxErrorCode.BAD_MODEL_VERSION, `outer lr ${tx.outerLrPpm / 1e6} is more than ${MAX_OUTER_LR_PPM / 1e6}`);
    if (tx.outerLrPpm === 0 && !tx.momentumRestart)
      throw new TxError(TxErrorCode.BAD_MODEL_VERSION, "a version that keeps its parent's weights (outer lr 0) resets the momentum");
    if (tx.outerLrPpm > 0 && tx.contributions.length === 0)
      throw new TxError(TxErrorCode.BAD_MODEL_VERSION, 'an outer step needs at least one contribution to average');
    const seen = new Set<string>();
    for (const contributionHash of tx.contributions) {
      if (seen.has(contributionHash)) throw new TxError(TxErrorCode.DUPLICATE, `contribution ${contributionHash} listed twice`);
      seen.add(contributionHash);
    }
    for (const contributionHash of tx.contributions) {
      const entry = state.contribution(contributionHash);
      if (!entry) throw new TxError(TxErrorCode.UNKNOWN_CONTRIBUTION, `no contribution with hash ${contributionHash}`);
      if (entry.aggregatedIn !== 0n) {
        throw new TxError(
          TxErrorCode.DUPLICATE,
          `contribution ${contributionHash} was already aggregated into version ${entry.aggregatedIn}`,
        );
      }
      if (entry.modelVersion > tx.parentVersion || tx.parentVersion - entry.modelVersion > spec.rewards.maxStaleness) {
        throw new TxError(
          TxErrorCode.BAD_MODEL_VERSION,
          `contribution ${contributionHash} trained on version ${entry.modelVersion}, too far from parent ${tx.parentVersion}`,
        );
      }
      state.setContribution(contributionHash, { ...entry, aggregatedIn: tx.version });
    }
    state.setModelVersion(tx.version, { txHash: hash, manifestDigest: tx.manifestDigest, parentVersion: tx.parentVersion });
    state.setMeta({ ...meta, latestModelVersion: tx.version });
  },
  inference_reward: (state, tx, hash, spec) => {
    requireCoordinator(tx, spec);
    if (state.inferenceRewarded(tx.requestId, tx.node))
      throw new TxError(TxErrorCode.DUPLICATE, `request ${tx.requestId} already rewarded node ${tx.node}`);
    if (tx.spanStart >= tx.spanEnd)
      throw new TxError(TxErrorCode.BAD_REWARD, `span [${tx.spanStart}, ${tx.spanEnd}) holds no layer: spanStart must be below spanEnd`);
    if (tx.shares <= 0n) throw new TxError(TxErrorCode.BAD_REWARD, 'shares must be positive');
    const expected = tx.shares * spec.rewards.inferenceShare;
    if (tx.reward !== expected)
      throw new TxError(TxErrorCode.BAD_REWARD, `reward ${tx.reward} should be ${expected} for ${tx.shares} shares`);
    state.markInferenceRewarded(tx.requestId, tx.node, hash);
    mint(state, tx.node, tx.reward);
  },
  equivocation: (state, tx, hash, spec) => {
    if (state.convicted(tx.offender)) throw new TxError(TxErrorCode.DUPLICATE, `${tx.offender} was already convicted of equivocation`);
    const fault = evidenceFault(spec, tx);
    if (fault) throw new TxError(TxErrorCode.BAD_EVIDENCE, `the evidence does not prove equivocation: ${fault}`);
    state.markConvicted(tx.offender, hash);
  },
};

function applyInto(state: StateOverlay, { tx, hash }: SignedTx, spec: ChainSpec): void {
  (TRANSITIONS[tx.type] as Transition<Tx>)(state, tx, hash, spec);
}
