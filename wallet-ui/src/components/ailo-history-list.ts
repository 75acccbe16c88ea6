/** <ailo-history-list>: incoming and outgoing transactions, newest first, paged, each with its status. */
import { LitElement, css, html, type PropertyValues, type TemplateResult } from 'lit';
import type { NodeApi } from '../api/node-api.js';
import type { ChainHead, HistoryItem } from '../../../protocol/ledger.js';
import { formatAlc } from '../../../protocol/amount.js';
import { entryOfItem, historyEntry, statusLabel, txStatus, type HistoryEntry, type TxStatus } from '../wallet/history.js';
import { problemText, type PendingTransfer } from './events.js';
import { baseStyles } from './shared-styles.js';

const PAGE = 10;

/** Whether `a` comes after `b` in newest-first order (an older block, or earlier in the same block). */
const before = (a: HistoryItem, b: HistoryItem): boolean =>
  BigInt(a.height) < BigInt(b.height) || (a.height === b.height && a.index < b.index);

const short = (a: string | undefined): string => (a ? `${a.slice(0, 8)}…${a.slice(-6)}` : '');

export class AiloHistoryList extends LitElement {
  static override properties = {
    api: { attribute: false },
    address: { attribute: false },
    head: { attribute: false },
    pending: { attribute: false },
    items: { state: true },
    next: { state: true },
    loading: { state: true },
    problem: { state: true },
  };

  declare api: NodeApi;
  declare address: string;
  declare head: ChainHead | undefined;
  declare pending: PendingTransfer[];
  declare items: HistoryItem[];
  declare next: string | null;
  declare loading: boolean;
  declare problem: string | undefined;
  private loadedAtHeight: string | undefined;

  constructor() {
    super();
    this.items = [];
    this.next = null;
    this.loading = false;
    this.pending = [];
  }

  static override styles = [
    baseStyles,
    css`
    ol { list-style: none; margin: 0; padding: 0; }
    li { display: grid; grid-template-columns: 2.4rem minmax(0, 1fr) auto; gap: 0.8rem; align-items: center; padding: 0.8rem 0; border-top: 1px solid var(--border); }
    li:first-child { border-top: 0; }
    .icon { width: 2.4rem; height: 2.4rem; border-radius: 50%; display: grid; place-items: center; font-weight: 700; }
    .main, .side { display: grid; gap: 0.2rem; }
    .side { justify-items: end; }
    .sent .icon { background: #fdeceb; color: #b42318; }
    .received .icon, .reward .icon { background: #e6f6ed; color: #067647; }
    .self .icon, .other .icon { background: #eef2ff; color: #2a45ad; }
    .what { font-weight: 600; }
    .who { color: var(--muted); font-size: 0.88rem; }
    .delta { font-weight: 700; text-align: right; font-variant-numeric: tabular-nums; }
    .detail { grid-column: 2 / -1; font-size: 0.88rem; }
    .detail summary { cursor: pointer; color: var(--muted); }
    .detail dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 0.2rem 0.8rem; margin: 0.4rem 0 0; }
    .detail dt { color: var(--muted); }
    .detail dd { margin: 0; }
    .sent .delta { color: var(--danger); }
    .received .delta, .reward .delta { color: var(--success); }
    .badge { display: inline-block; padding: 0.1rem 0.5rem; border-radius: 999px; font-weight: 600; font-size: 0.8rem; white-space: nowrap; }
    .badge.pending { background: var(--warning-bg); color: var(--warning); }
    .badge.in-block { background: var(--accent-soft); color: var(--accent-strong); }
    .badge.final { background: var(--success-bg); color: var(--success); }
    .empty { color: var(--muted); padding: 1rem 0; margin: 0; }
    .more { margin-top: 1rem; }
    .footnote { font-size: 0.84rem; margin: 0.75rem 0 0; }
    @media (max-width: 520px) {
      li { gap: 0.6rem; grid-template-columns: 2rem minmax(0, 1fr) auto; }
      .icon { width: 2rem; height: 2rem; }
    }
  `,
  ];

  protected override willUpdate(changed: PropertyValues<this>): void {
    // Reload the first page when a new block arrives (it may hold this account's transactions).
    if ((changed.has('head') || changed.has('address')) && this.address && this.head && this.head.height !== this.loadedAtHeight) {
      this.loadedAtHeight = this.head.height;
      void this.loadFirst();
    }
  }

  private async loadFirst(): Promise<void> {
    try {
      const page = await this.api.history(this.address, PAGE);
      // Keep older pages the user already loaded, after the fresh first page.
      const last = page.items.at(-1);
      const older = last && page.next ? this.items.filter((i) => before(i, last)) : [];
      this.items = [...page.items, ...older];
      if (older.length === 0) this.next = page.next;
      this.problem = undefined;
    } catch (err) {
      this.problem = problemText(err);
    }
  }

  private async loadMore(): Promise<void> {
    if (!this.next) return;
    this.loading = true;
    try {
      const page = await this.api.history(this.address, PAGE, this.next);
      this.items = [...this.items, ...page.items];
      this.next = page.next;
    } catch (err) {
      this.problem = problemText(err);
    } finally {
      this.loading = false;
    }
  }

  private row(e: HistoryEntry, status: TxStatus): TemplateResult {
    const sign = e.delta > 0n ? '+' : e.delta < 0n ? '−' : '';
    const abs = e.delta < 0n ? -e.delta : e.delta;
    const icon = { sent: '↑', received: '↓', reward: '★', self: '↻', other: '•' }[e.direction];
    const when = e.timestamp ? new Date(e.timestamp).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }) : 'just now';
    const who =
      e.direction === 'sent' || e.direction === 'self'
        ? `to ${short(e.counterparty)}`
        : e.counterparty
          ? `from ${short(e.counterparty)}`
          : '';
    return html`<li class=${e.direction} data-hash=${e.hash} data-status=${status.kind}>
      <span class="icon" aria-hidden="true">${icon}</span>
      <span class="main">
        <span><span class="what">${e.what}</span> <span class="who" title=${e.counterparty ?? ''}>${who}</span></span>
        <span class="who">${when}</span>
      </span>
      <span class="side">
        <span class="delta">${sign}${formatAlc(abs)} ALC</span>
        <span class="badge ${status.kind}">${statusLabel(status)}</span>
      </span>
      <details class="detail" data-testid="tx-detail">
        <summary>Details</summary>
        <dl>
          <dt>Transaction</dt><dd class="mono">${e.hash}</dd>
          <dt>Status</dt><dd>${statusLabel(status)}</dd>
          ${e.counterparty ? html`<dt>${e.direction === 'sent' || e.direction === 'self' ? 'To' : 'From'}</dt><dd class="mono">${e.counterparty}</dd>` : ''}
          <dt>Amount</dt><dd>${sign}${formatAlc(abs, { group: false })} ALC</dd>
        </dl>
      </details>
    </li>`;
  }

  override render(): TemplateResult {
    const finalized = BigInt(this.head?.finalizedHeight ?? '0');
    const inHistory = new Set(this.items.map((i) => i.tx.hash));
    const pending = this.pending.filter((p) => !inHistory.has(p.hash) && p.from.toLowerCase() === this.address.toLowerCase());
    const rows = [
      ...pending.map((p) =>
        this.row(historyEntry({ hash: p.hash, type: 'transfer', from: p.from, to: p.to, amount: p.amount }, this.address), {
          kind: 'pending',
        }),
      ),
      ...this.items.map((i) => this.row(entryOfItem(i, this.address), txStatus(BigInt(i.height), finalized))),
    ];
    return html`<section class="card" aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      ${this.problem ? html`<p class="notice error" role="alert">${this.problem}</p>` : ''}
      ${
        rows.length === 0
          ? html`<p class="empty">No transactions yet. <a href="/receive">Receive ALC</a> to get started.</p>`
          : html`<ol aria-label="Transactions, newest first" data-testid="history">${rows}</ol>`
      }
      ${
        this.next
          ? html`<div class="more"><button class="secondary" type="button" ?disabled=${this.loading} @click=${this.loadMore}>
        ${this.loading ? 'Loading…' : 'Show older transactions'}</button></div>`
          : ''
      }
      ${rows.length > 0 ? html`<p class="muted footnote">A transaction is final once more than two thirds of the coordinators have voted for its block (Casper FFG): it can no longer be rolled back.</p>` : ''}
    </section>`;
  }
}

customElements.define('ailo-history-list', AiloHistoryList);
