/** Messages between the Chat page and the room worker (structured-clone safe). */
import type { SignedJoinBody } from '../../../protocol/inference.js';
import type { ContributorState } from '../../../trainer/inference/contributor.js';
import type { BackendChoice, MiningBackend } from '../browser-miner/protocol.js';

export type { ContributorState };

export type PageToRoomWorker =
  | { type: 'start'; model: string; maxLayers: number; backend: BackendChoice }
  /** The answer to the worker's 'sign-join' of the same id: the signed join, or why the page could not sign. */
  | { type: 'join-signed'; id: number; body: SignedJoinBody }
  | { type: 'join-signed'; id: number; error: string }
  /** Leave the room (the node gives the span to another contributor). */
  | { type: 'stop' };

export type RoomWorkerToPage =
  /** Sent once the worker's modules are evaluated: a message posted earlier could reach it before it listens. */
  | { type: 'ready' }
  /** Before the join: the wallet's key stays in the page, which signs the InferenceJoin and answers 'join-signed'. */
  | { type: 'sign-join'; id: number; coordinator: string }
  | { type: 'device'; backend: MiningBackend; description: string }
  /** The signed join is sent: the contributor is in the room (serving, loading or waiting as a standby). */
  | { type: 'joined' }
  | { type: 'state'; state: ContributorState }
  | { type: 'log'; line: string }
  /** The worker cannot serve (no device, no coordinator, the span would not load); it has left the room. */
  | { type: 'failed'; message: string };
