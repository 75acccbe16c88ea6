import { describe, expect, it } from 'vitest';
import type { HistoryItem, TxView } from '../../../protocol/ledger.js';
import { earningsOf, historyEntry, statusLabel, txStatus } from './history.js';

const ME = '0x' + 'aa'.repeat(20);
const OTHER = '0x' + 'bb'.repeat(20);
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 0, 15, 12);
const ALC = 10n ** 18n;

const item = (tx: Partial<TxView>, at: number, height = 1): HistoryItem => ({
  height: String(height),
  index: 0,
  timestamp: String(at),
  tx: { hash: '0x01', type: 'transfer', ...tx } as TxView,
});

describe('history', () => {
  it('labels status from the height and the finalized height', () => {
    expect(statusLabel(txStatus(undefined, 5n))).toBe('pending');
    expect(statusLabel(txStatus(6n, 5n))).toBe('in block 6');
    expect(statusLabel(txStatus(5n, 5n))).toBe('final (block 5)');
  });

  it('reads direction and sign from the account’s side, whatever the address case', () => {
    expect(
      historyEntry({ hash: '0x1', type: 'transfer', from: ME.toUpperCase().replace('0X', '0x'), to: OTHER, amount: '5' }, ME),
    ).toMatchObject({ direction: 'sent', delta: -5n, counterparty: OTHER });
    expect(historyEntry({ hash: '0x1', type: 'transfer', from: OTHER, to: ME, amount: '5' }, ME)).toMatchObject({
      direction: 'received',
      delta: 5n,
    });
    expect(historyEntry({ hash: '0x1', type: 'transfer', from: ME, to: ME, amount: '5' }, ME)).toMatchObject({
      direction: 'self',
      delta: 0n,
    });
    expect(historyEntry({ hash: '0x1', type: 'contribution', miner: ME, reward: '7' }, ME)).toMatchObject({
      direction: 'reward',
      delta: 7n,
    });
  });

  it('names every transaction type the ledger serves, equivocation from either side (issue 16: no silent default)', () => {
    expect(historyEntry({ hash: '0x1', type: 'equivocation', offender: ME, reporter: OTHER }, ME)).toMatchObject({
      what: 'Convicted of equivocation',
      counterparty: OTHER,
      delta: 0n,
    });
    expect(historyEntry({ hash: '0x1', type: 'equivocation', offender: OTHER, reporter: ME }, ME)).toMatchObject({
      what: 'Reported an equivocation',
      counterparty: OTHER,
    });
    expect(historyEntry({ hash: '0x1', type: 'model_version', coordinator: ME }, ME)).toMatchObject({ what: 'Model version', delta: 0n });
    expect(() => historyEntry({ hash: '0x1', type: 'burn' } as unknown as TxView, ME)).toThrow(/unexpected transaction type: "burn"/);
  });

  it('sums only this miner’s contribution rewards, by UTC day, over the last days', () => {
    const items = [
      item({ type: 'contribution', miner: ME, reward: String(ALC / 10n) }, NOW),
      item({ type: 'contribution', miner: ME, reward: String(ALC / 5n) }, NOW - 1000),
      item({ type: 'contribution', miner: ME, reward: String(3n * ALC) }, NOW - 2 * DAY),
      item({ type: 'contribution', miner: ME, reward: String(ALC) }, NOW - 30 * DAY), // counted in the total, before the chart
      item({ type: 'contribution', miner: OTHER, reward: String(ALC) }, NOW),
      item({ type: 'transfer', from: OTHER, to: ME, amount: String(50n * ALC) }, NOW),
      item({ type: 'inference_reward', node: ME, reward: String(ALC) }, NOW),
    ];
    const e = earningsOf(items, ME, NOW, 7);
    expect(e.total).toBe(ALC / 10n + ALC / 5n + 3n * ALC + ALC);
    expect(e.contributions).toBe(4);
    expect(e.days.map((d) => d.day)).toEqual([
      '2026-01-09',
      '2026-01-10',
      '2026-01-11',
      '2026-01-12',
      '2026-01-13',
      '2026-01-14',
      '2026-01-15',
    ]);
    expect(e.days.map((d) => d.amount)).toEqual([0n, 0n, 0n, 0n, 3n * ALC, 0n, ALC / 10n + ALC / 5n]);
  });
});
