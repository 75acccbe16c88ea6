// Errors the trainer raises on bad input, each with a code a caller can branch on and a message for users.

export enum TrainerErrorCode {
  UNKNOWN_PRESET = 'TRAINER_UNKNOWN_PRESET',
  BAD_CONFIG = 'TRAINER_BAD_CONFIG',
  WEIGHTS_MISSING = 'TRAINER_WEIGHTS_MISSING',
  WEIGHTS_TRUNCATED = 'TRAINER_WEIGHTS_TRUNCATED',
  WEIGHTS_MALFORMED = 'TRAINER_WEIGHTS_MALFORMED',
  SHAPE_MISMATCH = 'TRAINER_SHAPE_MISMATCH',
  TOKEN_OUT_OF_RANGE = 'TRAINER_TOKEN_OUT_OF_RANGE',
  BAD_TOKENS = 'TRAINER_BAD_TOKENS',
  UNKNOWN_PROVIDER = 'TRAINER_UNKNOWN_PROVIDER',
  PROVIDER_UNAVAILABLE = 'TRAINER_PROVIDER_UNAVAILABLE',
  BAD_ARGUMENT = 'TRAINER_BAD_ARGUMENT',
  /** No training layout's memory plan fits the memory allowed. */
  OUT_OF_MEMORY = 'TRAINER_OUT_OF_MEMORY',
}

export class TrainerError extends Error {
  override readonly name = 'TrainerError';
  constructor(
    readonly code: TrainerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
