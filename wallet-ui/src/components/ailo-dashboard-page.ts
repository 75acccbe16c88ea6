/** <ailo-dashboard-page>: the network's figures from /api/status, and (when logged in) the user's training earnings. */
import { LitElement, css, html, type PropertyValues, type TemplateResult } from 'lit';
import type { AccountSession } from '../account/account-session.js';
import type { NodeApi } from '../api/node-api.js';
import type { ChainHead, HistoryItem, NetworkStatus } from '../../../protocol/ledger.js';
import { formatAlc } from '../../../protocol/amount.js';
import { earningsOf, type Earnings } from '../wallet/history.js';
import './ailo-earnings-chart.js';
import './ailo-mining-panel.js';
import { problemText } from './events.js';
import { baseStyles } from './shared-styles.js';

/** How far back the dashboard reads history to add up earnings. */
const MAX_HISTORY_PAGES = 10;

export function formatParams(n: number | null): string {
  if (n === null) return 'unknown';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

export class AiloDashboardPage extends LitElement {
  static override properties = {
    api: { attribute: false },
    status: { attribute: false },
    address: { attribute: false },
    session: { attribute: false },
    head: { attribute: false },
    earnings: { state: true },
    earningsProblem: { state: true },
  };

  declare api: NodeApi;
  declare status: NetworkStatus | undefined;
  declare address: string | undefined;
  /** The logged-in account: its wallet mines, and its key signs the task requests. */
  declare session: AccountSession | undefined;
  declare head: ChainHead | undefined;
  declare earnings: Earnings | undefined;
  declare earningsProblem: string | undefined;
  private loadedAt: string | undefined;

  static override styles = [
    baseStyles,
    css`
    .figures { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 1rem; margin: 0 0 0.75rem; padding: 0; }
    @media (max-width: 820px) { .figures { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
    @media (max-width: 420px) { .figures { grid-template-columns: 1fr; } }
    .figure { margin: 0; }
    .figure dt { color: var(--muted); font-size: 0.88rem; }
    .figure dd { margin: 0.2rem 0 0; font-size: 1.45rem; font-weight: 700; font-variant-numeric: tabular-nums; }
    .pill { display: inline-flex; align-items: center; gap: 0.4rem; font-size: 1.05rem; padding: 0.15rem 0.65rem; border-radius: 999px; }
    .pill.on { background: var(--success-bg); color: var(--success); }
    .pill.off { background: var(--warning-bg); color: var(--warning); }
    .dot { width: 0.55rem; height: 0.55rem; border-radius: 50%; background: currentColor; }
    .params progress { width: 100%; height: 0.6rem; margin-top: 0.4rem; accent-color: var(--accent); }
    .params .hint, .pill + .hint { display: block; }
    .earn-head { display: flex; flex-wrap: wrap; gap: 1.5rem; margin-bottom: 0.75rem; }
    .earn-head div { display: grid; }
    .earn-head strong { font-size: 1.35rem; }
    .meta { font-size: 0.88rem; }
  `,
  ];

  protected override willUpdate(changed: PropertyValues<this>): void {
    if ((changed.has('address') || changed.has('head')) && this.address && this.head && this.head.height !== this.loadedAt) {
      this.loadedAt = this.head.height;
      void this.loadEarnings(this.address);
    }
    if (changed.has('address') && !this.address) this.earnings = undefined;
  }

  private async loadEarnings(address: string): Promise<void> {
    try {
      const items: HistoryItem[] = [];
      let before: string | undefined;
      for (let i = 0; i < MAX_HISTORY_PAGES; i++) {
        const page = await this.api.history(address, 200, before);
        items.push(...page.items);
        if (!page.next) break;
        before = page.next;
      }
      this.earnings = earningsOf(items, address, Date.now());
      this.earningsProblem = undefined;
    } catch (err) {
      this.earningsProblem = problemText(err);
    }
  }

  private figures(s: NetworkStatus): TemplateResult {
    return html`<dl class="figures" data-testid="figures">
      <div class="card figure"><dt>Network</dt><dd><span class="pill ${s.isNetworkActive ? 'on' : 'off'}"><span class="dot" aria-hidden="true"></span>
        ${s.isNetworkActive ? 'Active' : 'Idle'}</span>
        <span class="hint" data-testid="network-meaning">${
          s.activeMiners
            ? 'miners are training now'
            : s.isNetworkActive
              ? 'a block in the last 5 minutes; no miner is training now'
              : 'no block and no miner in the last 5 minutes'
        }</span></dd></div>
      <div class="card figure"><dt>Active nodes</dt><dd data-testid="active-nodes">${s.activeNodes}
        ${s.activeMiners !== undefined ? html`<span class="hint">this node, ${s.peers} peer${s.peers === 1 ? '' : 's'} and ${s.activeMiners} miner${s.activeMiners === 1 ? '' : 's'} active in the last 2 minutes</span>` : ''}</dd></div>
      <div class="card figure"><dt>Training speed</dt><dd>${s.globalHashrate}</dd></div>
      <div class="card figure"><dt>Model version</dt><dd>v${s.globalModelVersion}</dd></div>
      <div class="card figure params"><dt>Model</dt>
        <dd data-testid="model">${s.model} <span class="hint">${formatParams(s.globalParams)} parameters${
          s.model === 'ailo-1b'
            ? ''
            : html`; a small configuration this network trains (the network's target model, AILO-1B, has ${formatParams(s.targetParams)})`
        }</span></dd></div>
      <div class="card figure"><dt>Chain height</dt><dd>${s.head.height}</dd></div>
    </dl>
    <p class="muted meta">${s.network} · chain ${s.chainId} · ${s.pendingTransactions} pending transaction${s.pendingTransactions === 1 ? '' : 's'}</p>`;
  }

  private earningsCard(): TemplateResult {
    if (!this.address) {
      return html`<section class="card"><h2>Your earnings</h2><p class="muted"><a href="/login">Log in</a> to see what your mining has earned.</p></section>`;
    }
    const e = this.earnings;
    return html`<section class="card" aria-labelledby="earn-title" data-testid="earnings">
      <h2 id="earn-title">Your earnings</h2>
      ${this.earningsProblem ? html`<p class="notice error" role="alert">${this.earningsProblem}</p>` : ''}
      ${
        !e
          ? html`<p class="muted">Reading your history…</p>`
          : html`
        <div class="earn-head">
          <div><span class="muted">Total from training</span><strong>${formatAlc(e.total)} ALC</strong></div>
          <div><span class="muted">Accepted contributions</span><strong>${e.contributions}</strong></div>
        </div>
        ${
          e.contributions === 0
            ? html`<p class="notice info">No rewards yet. Each accepted training contribution earns about 0.1 ALC,
          up to ten times that for high quality. Rewards show here, day by day, as the coordinators record them.</p>`
            : html`<ailo-earnings-chart .earnings=${e}></ailo-earnings-chart>`
        }`
      }
    </section>`;
  }

  override render(): TemplateResult {
    return html`
      <h1 tabindex="-1">Dashboard</h1>
      <p class="lead">${this.status && this.status.model !== 'ailo-1b' ? `This network trains ${this.status.model} together (a small configuration, not AILO-1B)` : 'The network training AILO-1B together'}, and what your contributions have earned.</p>
      ${this.status ? this.figures(this.status) : html`<p class="muted">Asking the node for the network's figures…</p>`}
      ${this.session ? html`<ailo-mining-panel .session=${this.session} .chainId=${this.status?.chainId} .genesisHash=${this.status?.genesisHash}></ailo-mining-panel>` : ''}
      ${this.earningsCard()}
    `;
  }
}

customElements.define('ailo-dashboard-page', AiloDashboardPage);
