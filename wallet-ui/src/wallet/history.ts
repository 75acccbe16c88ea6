/** Reading the ledger's history for one account: direction, amount, status, and earnings from contributions. */
import type { HistoryItem, TxView } from '../../../protocol/ledger.js';
import { assertNever } from '../../../chain/tx/types.js';

export type TxStatus = { kind: 'pending' } | { kind: 'in-block'; height: bigint } | { kind: 'final'; height: bigint };

export function txStatus(height: bigint | undefined, finalizedHeight: bigint): TxStatus {
  if (height === undefined) return { kind: 'pending' };
  return height <= finalizedHeight ? { kind: 'final', height } : { kind: 'in-block', height };
}

export function statusLabel(s: TxStatus): string {
  return s.kind === 'pending' ? 'pending' : s.kind === 'final' ? `final (block ${s.height})` : `in block ${s.height}`;
}

export type Direction = 'sent' | 'received' | 'self' | 'reward' | 'other';

export interface HistoryEntry {
  hash: string;
  direction: Direction;
  /** Who the ALC went to or came from; for rewards, the coordinator that paid. */
  counterparty?: string;
  /** Base units moved into (+) or out of (-) this account. */
  delta: bigint;
  what: string;
  height?: bigint;
  timestamp?: number;
}

const same = (a: string | undefined, b: string): boolean => a !== undefined && a.toLowerCase() === b.toLowerCase();

export function historyEntry(tx: TxView, me: string, height?: bigint, timestamp?: number): HistoryEntry {
  const base = { hash: tx.hash, height, timestamp };
  switch (tx.type) {
    case 'transfer': {
      const amount = BigInt(tx.amount ?? '0');
      if (same(tx.from, me) && same(tx.to, me))
        return { ...base, direction: 'self', counterparty: tx.to, delta: 0n, what: 'Sent to yourself' };
      if (same(tx.from, me)) return { ...base, direction: 'sent', counterparty: tx.to, delta: -amount, what: 'Sent' };
      return { ...base, direction: 'received', counterparty: tx.from, delta: amount, what: 'Received' };
    }
    case 'contribution':
      return { ...base, direction: 'reward', counterparty: tx.coordinator, delta: BigInt(tx.reward ?? '0'), what: 'Training reward' };
    case 'inference_reward':
      return { ...base, direction: 'reward', counterparty: tx.coordinator, delta: BigInt(tx.reward ?? '0'), what: 'Inference reward' };
    case 'model_version':
      return { ...base, direction: 'other', counterparty: tx.coordinator, delta: 0n, what: 'Model version' };
    case 'equivocation':
      return same(tx.offender, me)
        ? { ...base, direction: 'other', counterparty: tx.reporter, delta: 0n, what: 'Convicted of equivocation' }
        : { ...base, direction: 'other', counterparty: tx.offender, delta: 0n, what: 'Reported an equivocation' };
    default:
      return assertNever(tx.type, 'transaction type');
  }
}

export function entryOfItem(item: HistoryItem, me: string): HistoryEntry {
  return historyEntry(item.tx, me, BigInt(item.height), Number(item.timestamp));
}

export interface Earnings {
  total: bigint;
  contributions: number;
  /** One bar per UTC day, oldest first, ending on the day of `now`. */
  days: { day: string; amount: bigint }[];
}

const DAY_MS = 86_400_000;
const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** Sums the `contribution` rewards paid to `me` (the miner) in `items`, and buckets the last `dayCount` days. */
export function earningsOf(items: HistoryItem[], me: string, now: number, dayCount = 14): Earnings {
  const days = Array.from({ length: dayCount }, (_, i) => ({ day: dayOf(now - (dayCount - 1 - i) * DAY_MS), amount: 0n }));
  const index = new Map(days.map((d, i) => [d.day, i]));
  let total = 0n;
  let contributions = 0;
  for (const item of items) {
    const tx = item.tx;
    if (tx.type !== 'contribution' || !same(tx.miner, me)) continue;
    const reward = BigInt(tx.reward ?? '0');
    total += reward;
    contributions++;
    const i = index.get(dayOf(Number(item.timestamp)));
    if (i !== undefined) days[i]!.amount += reward;
  }
  return { total, contributions, days };
}
