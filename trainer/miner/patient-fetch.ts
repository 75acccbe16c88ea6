/**
 * A fetch that waits long for an answer (Node only: undici, the library behind Node's own fetch). A coordinator
 * verifying an AILO-1B task on a CPU answers the submission after many minutes (measured: over 5 on this project's
 * 2-core machine), past the 300 s undici waits by default for an answer's headers; the miner's client then sent the
 * update again while the first was being verified, and that one was refused. Used for submissions only (the miner's,
 * and a follower node forwarding one to its coordinator): every other request keeps the usual waits.
 */
import { Agent, fetch as undiciFetch } from 'undici';

/** How long a submission's answer may take: 2 h, past any verification's time, short of forever for a hung node. */
export const ANSWER_WAIT_MS = 2 * 3_600_000;

/** undici's fetch with its waits for an answer's headers and between its body's bytes set to `waitMs`. */
export function patientFetch(waitMs = ANSWER_WAIT_MS): typeof fetch {
  const dispatcher = new Agent({ headersTimeout: waitMs, bodyTimeout: waitMs });
  return ((input: string | URL, init?: RequestInit) =>
    undiciFetch(input, { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher })) as unknown as typeof fetch;
}
