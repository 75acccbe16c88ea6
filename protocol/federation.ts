/**
 * The federated-training wire types and refusal codes (browser-safe), declared once: the node's routes build them and
 * both miners read them. Numbers that can exceed 2^53 travel as decimal strings; addresses as EIP-55 strings; hashes as 0x hex.
 */

/** A training task: POST /api/task's answer (201), for the wallet that signed the request. */
export interface Task {
  taskId: string;
  /** The wallet the task is tied to (EIP-55). */
  wallet: string;
  /** The model version to train from (GET /api/model?version=N). */
  modelVersion: number;
  /** The token range: the shard's sha256 (0x hex) and file name, an offset and a length in tokens. */
  data: { shard: string; shardName: string; offset: number; length: number };
  /** `steps` AdamW steps of `batchSize` rows of `seqLen` + 1 tokens each, at learning rate `lr`. */
  batchSize: number;
  seqLen: number;
  steps: number;
  lr: number;
  /** When the task expires (ms since the epoch). */
  deadline: number;
  /** Bound on every value of the update; its density (share of each tensor's values) and size caps. */
  maxAbs: number;
  density: number;
  maxValues: number;
  maxBytes: number;
  /** The update codec version the node reads (trainer/codec/update-codec.ts). */
  codecVersion: number;
  /** Where the task's tokens are served (GET, little-endian uint16). */
  tokens: string;
}

/** The query of POST /api/submit_gradient (the body is the encoded update). */
export interface SubmitQuery {
  /** The wallet the task was given to (EIP-55), which earns the reward. */
  wallet: string;
  taskId: string;
  modelVersion: number;
  /** The miner's own last training loss: logged by the node, never used for rewards. */
  loss: number;
  batchSize: number;
  /**
   * How the miner trained, `<provider>/<layout>/<moments>` (e.g. `cpu/layerwise/int8`), or `cuda/fused/float32/fp16` for
   * mixed precision (cuda only): the settings its memory planner chose for the machine. Logged by the node beside the outcome;
   * the coordinator recomputes in the stated moments' format where it fits; never used for rewards.
   */
  settings?: string;
}

/** The form of SubmitQuery.settings. */
export const TRAINING_SETTINGS = /^((cpu|webgpu|cuda|wasm)\/(fused|layerwise)\/(float32|int8)|cuda\/fused\/float32\/fp16)$/;

/** The path and query string of a submission: `/api/submit_gradient?wallet=0x..&taskId=0x..&modelVersion=N&loss=X&batchSize=N[&settings=S]`. */
export function submitPath(q: SubmitQuery): string {
  const params = new URLSearchParams({
    wallet: q.wallet,
    taskId: q.taskId,
    modelVersion: String(q.modelVersion),
    loss: String(q.loss),
    batchSize: String(q.batchSize),
  });
  if (q.settings !== undefined) params.set('settings', q.settings);
  return `/api/submit_gradient?${params}`;
}

/** What POST /api/submit_gradient answers for an accepted update. */
export interface SubmitAccepted {
  accepted: true;
  taskId: string;
  /** The `contribution` transaction's hash. */
  contribution: string;
  /** sha256 of the update's bytes, 0x hex. */
  gradientDigest: string;
  /** ALC base units, decimal. */
  reward: string;
  /** Thousandths: 1000 = 1x; `multiplier` is the same as a number (1.5 for 1500). */
  quality: number;
  multiplier: number;
  /** The version of the round the update joins (a stale task's update is averaged into the current round). */
  roundVersion: number;
  measured: {
    /** Mean loss (nats) before and after the update, on the task rows and on the held-out rows the node drew. */
    taskLoss: [number, number];
    heldOutLoss: [number, number];
    /** Task-specific gain (task rows minus unassigned rows) and its share of a full reference task's. */
    specificGain: number;
    workRatio: number;
  };
}

/**
 * The body of POST /api/task: a TaskRequest signed by the wallet with EIP-712 (chain/tx/task-request.ts builds and
 * checks it): `issuedAt` in ms since the epoch (decimal), a fresh 0x-hex `nonce`, the 65-byte signature as 0x hex.
 */
export interface SignedTaskRequestBody {
  wallet: string;
  /** The coordinator asked (GET /api/round's `coordinator`): only it honours the request. */
  coordinator: string;
  issuedAt: string;
  nonce: string;
  signature: string;
}

/**
 * The refusal codes of the federation routes (task requests, tasks, submissions, model chunks) and the HTTP status
 * each is answered with. The scored refusals (422 from NO_IMPROVEMENT on) are explained in README "Proof of
 * contribution".
 */
export const FEDERATION_ERRORS = {
  UNKNOWN_TASK: 404,
  TASK_NOT_YOURS: 403,
  TASK_USED: 409,
  TASK_BUSY: 409,
  TASK_ABANDONED: 409,
  TASK_EXPIRED: 410,
  TASK_REFUSED: 409,
  TOO_MANY_TASKS: 429,
  ROUND_FULL: 429,
  UNSIGNED_TASK_REQUEST: 400,
  BAD_TASK_REQUEST: 400,
  BAD_TASK_SIGNATURE: 403,
  STALE_TASK_REQUEST: 400,
  REPLAYED_TASK_REQUEST: 409,
  /** 421 Misdirected Request (RFC 9110): signed for another coordinator. */
  WRONG_COORDINATOR: 421,
  VERSION_MISMATCH: 409,
  STALE_VERSION: 409,
  BAD_UPDATE: 400,
  SHAPE_MISMATCH: 400,
  NON_FINITE: 422,
  TOO_DENSE: 422,
  NORM_EXCEEDED: 422,
  DUPLICATE_UPDATE: 409,
  COPIED_UPDATE: 409,
  NO_IMPROVEMENT: 422,
  NOT_TASK_SPECIFIC: 422,
  TRAINED_ON_HELD_OUT: 422,
  HURTS_HELD_OUT: 422,
  OVERTRAINED: 422,
  TOO_LITTLE_WORK: 422,
  UPDATE_MISMATCH: 422,
  BAD_REQUEST: 400,
  NO_MODEL: 503,
  /** The coordinator has not the memory to verify the submission now; the task stays open: send it again. */
  VERIFIER_BUSY: 503,
} as const;

export type FederationErrorCode = keyof typeof FEDERATION_ERRORS;

/**
 * Refusal codes after which the coordinator holds the task closed (submitted, scored and refused, expired, given
 * back, not there, not this wallet's): a miner gives back a task refused with any other code, so it frees the wallet's slot at once.
 */
export const TASK_CLOSED_CODES: ReadonlySet<string> = new Set<FederationErrorCode>([
  'TASK_USED',
  'TASK_EXPIRED',
  'TASK_ABANDONED',
  'TASK_REFUSED',
  'UNKNOWN_TASK',
  'TASK_NOT_YOURS',
  // A scored refusal closes the task too (one scored try per task).
  'NO_IMPROVEMENT',
  'NOT_TASK_SPECIFIC',
  'TRAINED_ON_HELD_OUT',
  'HURTS_HELD_OUT',
  'OVERTRAINED',
  'TOO_LITTLE_WORK',
  'UPDATE_MISMATCH',
]);
