/**
 * Checks that an accepted submission's `contribution` reached the ledger as the coordinator said when it accepted
 * it: polls GET /api/ledger/tx/<contribution> until the record is in a block, then compares its type, miner,
 * reward and task. Browser-safe; the dashboard shows the outcome beside each submission.
 */

/** What the coordinator's acceptance promised. */
export interface AcceptedContribution {
  contribution: string;
  taskId: string;
  wallet: string;
  /** Base units, a decimal string. */
  reward: string;
}

export type LedgerCheck =
  | { status: 'checking'; detail: string }
  | { status: 'confirmed'; height: number }
  | { status: 'missing'; detail: string }
  /** detail: the fields that differ from the promise. */
  | { status: 'mismatch'; detail: string };

interface LedgerTxBody {
  status?: unknown;
  height?: unknown;
  tx?: { type?: unknown; miner?: unknown; reward?: unknown; taskId?: unknown };
}

/** The verdict on one answer of /api/ledger/tx: in a block as promised, different from the promise, or not yet in a block. */
export function judgeLedgerRecord(body: unknown, expected: AcceptedContribution): LedgerCheck {
  const b = (body ?? {}) as LedgerTxBody;
  const tx = b.tx ?? {};
  const differs: string[] = [];
  if (tx.type !== 'contribution') differs.push(`type ${String(tx.type)}`);
  if (typeof tx.miner !== 'string' || tx.miner.toLowerCase() !== expected.wallet.toLowerCase()) differs.push(`miner ${String(tx.miner)}`);
  if (tx.reward !== expected.reward) differs.push(`reward ${String(tx.reward)} (accepted with ${expected.reward})`);
  if (typeof tx.taskId !== 'string' || tx.taskId.toLowerCase() !== expected.taskId.toLowerCase()) differs.push(`task ${String(tx.taskId)}`);
  if (differs.length > 0) return { status: 'mismatch', detail: differs.join(', ') };
  if (b.status === 'confirmed') return { status: 'confirmed', height: Number(b.height) };
  return { status: 'checking', detail: 'pending, not in a block yet' };
}

export interface WatchOptions {
  origin: string;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  intervalMs?: number;
  /** How long a record may stay unknown or pending before it is reported missing. */
  deadlineMs?: number;
}

/** Polls until the record is in a block or differs from the promise, or the deadline passes (then: missing). */
export async function watchContribution(expected: AcceptedContribution, o: WatchOptions): Promise<LedgerCheck> {
  const doFetch = o.fetch ?? fetch;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = o.now ?? Date.now;
  const deadlineMs = o.deadlineMs ?? 60_000;
  const end = now() + deadlineMs;
  let last = 'the node has not answered';
  for (;;) {
    try {
      const res = await doFetch(`${o.origin}/api/ledger/tx/${expected.contribution}`, { cache: 'no-store' });
      if (res.status === 404) last = 'the ledger does not know it';
      else if (res.ok) {
        const verdict = judgeLedgerRecord(await res.json(), expected);
        if (verdict.status !== 'checking') return verdict;
        last = verdict.detail;
      } else last = `the node answered ${res.status}`;
    } catch (err) {
      last = `the node did not answer (${err instanceof Error ? err.message : String(err)})`;
    }
    if (now() >= end) return { status: 'missing', detail: `not in a block after ${Math.round(deadlineMs / 1000)} s: ${last}` };
    await sleep(o.intervalMs ?? 500);
  }
}
