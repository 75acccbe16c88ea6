/** Typed errors of the ledger: every rejection carries a stable code a client or log can act on. */

export enum TxErrorCode {
  MALFORMED = 'TX_MALFORMED',
  BAD_SIGNATURE = 'TX_BAD_SIGNATURE',
  WRONG_CHAIN = 'TX_WRONG_CHAIN',
  BAD_NONCE = 'TX_BAD_NONCE',
  NONCE_GAP = 'TX_NONCE_GAP',
  INSUFFICIENT_BALANCE = 'TX_INSUFFICIENT_BALANCE',
  BAD_AMOUNT = 'TX_BAD_AMOUNT',
  NOT_COORDINATOR = 'TX_NOT_COORDINATOR',
  DUPLICATE = 'TX_DUPLICATE',
  BAD_REWARD = 'TX_BAD_REWARD',
  BAD_MODEL_VERSION = 'TX_BAD_MODEL_VERSION',
  UNKNOWN_CONTRIBUTION = 'TX_UNKNOWN_CONTRIBUTION',
  POOL_FULL = 'TX_POOL_FULL',
  BAD_EVIDENCE = 'TX_BAD_EVIDENCE',
}

export class TxError extends Error {
  override name = 'TxError';
  constructor(
    readonly code: TxErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export enum BlockErrorCode {
  MALFORMED = 'BLOCK_MALFORMED',
  WRONG_CHAIN = 'BLOCK_WRONG_CHAIN',
  WRONG_HEIGHT = 'BLOCK_WRONG_HEIGHT',
  PARENT_MISMATCH = 'BLOCK_PARENT_MISMATCH',
  BAD_TIMESTAMP = 'BLOCK_BAD_TIMESTAMP',
  FUTURE_TIMESTAMP = 'BLOCK_FUTURE_TIMESTAMP',
  BAD_SIGNATURE = 'BLOCK_BAD_SIGNATURE',
  NOT_AUTHORIZED = 'BLOCK_NOT_AUTHORIZED',
  SIGNED_RECENTLY = 'BLOCK_SIGNED_RECENTLY',
  BAD_TX_ROOT = 'BLOCK_BAD_TX_ROOT',
  BAD_STATE_ROOT = 'BLOCK_BAD_STATE_ROOT',
  INVALID_TX = 'BLOCK_INVALID_TX',
  TOO_LARGE = 'BLOCK_TOO_LARGE',
  BELOW_FINALITY = 'BLOCK_BELOW_FINALITY',
  ALREADY_SEALED = 'BLOCK_ALREADY_SEALED',
  /** A `model_version` whose weights, recomputed from its parent and updates, have another manifest digest. */
  MODEL_MISMATCH = 'BLOCK_MODEL_MISMATCH',
  /** A `model_version` that could not be recomputed yet (its updates could not be fetched): tried again later. */
  MODEL_UNCHECKED = 'BLOCK_MODEL_UNCHECKED',
}

export class BlockError extends Error {
  override name = 'BlockError';
  constructor(
    readonly code: BlockErrorCode,
    message: string,
    readonly height?: bigint,
  ) {
    super(message);
  }
}
