/**
 * <ailo-miner-dashboard>: what the miner is doing now (phase, device, step, loss, tokens/s), the round on the node,
 * its rewards and their ledger records, the recent loss and tokens/s, and the latest submissions.
 */
import { LitElement, css, html, type TemplateResult } from 'lit';
import '../components/ailo-line-chart.js';
import { baseStyles, statsStyles } from '../components/shared-styles.js';
import { formatAlc } from '../../../protocol/amount.js';
import { formatGpuHealth, formatRate, PHASES } from './format.js';
import type { MinerStateView, StepPoint } from '../../../trainer/miner/status.js';

/** The dashboard's charts show the latest steps; the history page shows them all. */
const RECENT = 120;
/** Set once the hardware notice was acknowledged in this browser. */
const NOTICE_SEEN = 'ailo-miner-hardware-notice-seen';

export class AiloMinerDashboard extends LitElement {
  static override properties = { state: { attribute: false }, points: { attribute: false }, noticeSeen: { state: true } };

  declare state: MinerStateView;
  declare points: StepPoint[];
  declare noticeSeen: boolean;

  constructor() {
    super();
    this.noticeSeen = globalThis.localStorage?.getItem(NOTICE_SEEN) === '1';
  }

  private acknowledge(): void {
    globalThis.localStorage?.setItem(NOTICE_SEEN, '1');
    this.noticeSeen = true;
  }

  /** Shown until acknowledged once: what mining does to the hardware, and what the miner does about it. */
  private notice(): TemplateResult | string {
    if (this.noticeSeen) return '';
    return html`<section class="card notice" role="note" data-testid="hardware-notice">
      <p>
        Mining keeps your processor or graphics card under sustained load: it draws more power, runs warmer and may wear
        faster. The miner rests between steps (the power setting), and on an NVIDIA GPU it pauses while the GPU is above
        its temperature limit (80 C unless you start it with --max-temp). You mine on your own hardware at your own risk.
      </p>
      <button @click=${() => this.acknowledge()} data-testid="hardware-notice-ok">I understand</button>
    </section>`;
  }

  static override styles = [
    baseStyles,
    statsStyles,
    css`
    .grid { display: grid; gap: 1rem; }
    .phase { display: inline-block; padding: 0.15rem 0.55rem; border-radius: 999px; background: var(--accent-soft); color: var(--accent-strong); font-weight: 600; }
    table { width: 100%; border-collapse: collapse; font-size: 0.9rem; }
    th, td { text-align: left; padding: 0.35rem 0.4rem; border-bottom: 1px solid var(--border); }
    th { color: var(--muted); font-weight: 600; }
    td.num { font-variant-numeric: tabular-nums; }
  `,
  ];

  private round(): TemplateResult {
    const { round, roundError } = this.state;
    if (!round) return html`<span class="muted">${roundError ?? 'asking the node…'}</span>`;
    const closes = Math.max(0, Math.round((round.deadline - Date.now()) / 1000));
    return html`<span>version ${round.version}: ${round.accepted} of ${round.roundSize} updates, closes in ${closes < 120 ? `${closes} s` : `${Math.round(closes / 60)} min`}</span>
      ${roundError ? html`<span class="muted"> (${roundError})</span>` : ''}`;
  }

  override render(): TemplateResult {
    const { status: st, totals, settings } = this.state;
    const recent = this.points.slice(-RECENT);
    return html`<div class="grid">
      ${this.notice()}
      <section class="card" aria-labelledby="now-title">
        <h1 id="now-title" tabindex="-1">Dashboard</h1>
        <p class="lead" data-testid="phase"><span class="phase">${PHASES[st.phase]}</span>
          on <strong data-testid="device">${st.deviceLabel}</strong> at <strong data-testid="power">${st.power}%</strong> power${
            settings.pending ? html` · <span data-testid="next-device">${settings.nextDeviceLabel} from the next task</span>` : ''
          }</p>
        <div class="stats">
          <div><span class="muted">Tokens/s</span><strong data-testid="rate">${formatRate(st.tokensPerSecond)}</strong></div>
          <div><span class="muted">Loss</span><strong data-testid="loss">${st.loss?.toFixed(3) ?? '–'}</strong></div>
          <div><span class="muted">Step</span><strong>${st.steps ? `${st.step} / ${st.steps}` : '–'}</strong></div>
          <div><span class="muted">Model version</span><strong>${st.version ?? '–'}</strong></div>
          <div><span class="muted">Tasks</span><strong data-testid="tasks">${totals.tasks}</strong></div>
          ${
            st.gpu
              ? html`<div><span class="muted">GPU ${st.gpu.index}</span><strong data-testid="gpu-health">${formatGpuHealth(st.gpu)}</strong></div>`
              : ''
          }
        </div>
        <p>Round: ${this.round()}</p>
      </section>
      <section class="card" aria-labelledby="rewards-title">
        <h2 id="rewards-title">Rewards</h2>
        <div class="stats">
          <div><span class="muted">Earned this session</span><strong data-testid="earned">${formatAlc(BigInt(totals.earned), { maxDecimals: 4 })} ALC</strong></div>
          <div><span class="muted">Accepted</span><strong class="ok" data-testid="accepted">${totals.accepted}</strong></div>
          <div><span class="muted">Rejected</span><strong class=${totals.rejected ? 'bad' : ''} data-testid="rejected">${totals.rejected}</strong></div>
          <div><span class="muted">On the ledger</span><strong data-testid="confirmed">${totals.confirmed} / ${totals.accepted}</strong></div>
          <div><span class="muted">Rounds joined</span><strong>${totals.rounds}</strong></div>
        </div>
      </section>
      <section class="card charts" aria-label="Recent training">
        <ailo-line-chart label="Loss (last ${RECENT} steps)" .values=${recent.map((p) => p.loss)} .digits=${3}></ailo-line-chart>
        <ailo-line-chart label="Tokens/s (last ${RECENT} steps)" .values=${recent.map((p) => p.tokensPerSecond)} .digits=${0}></ailo-line-chart>
      </section>
      <section class="card" aria-labelledby="subs-title">
        <h2 id="subs-title">Latest submissions</h2>
        ${
          this.state.submissions.length + this.state.rejections.length === 0
            ? html`<p class="muted">None yet: the first goes in when the current task's steps are done.</p>`
            : html`
        <table data-testid="submissions">
          <thead><tr><th>Task</th><th>Version</th><th>Quality</th><th>Reward</th><th>Ledger</th></tr></thead>
          <tbody>
            ${this.state.submissions.slice(0, 10).map(
              (r) => html`<tr>
              <td class="mono">${r.taskId.slice(0, 10)}</td><td class="num">${r.modelVersion}</td><td class="num">${(r.quality / 1000).toFixed(2)}x</td>
              <td class="num">${formatAlc(BigInt(r.reward), { maxDecimals: 4 })} ALC</td>
              <td class=${r.ledger === 'missing' || r.ledger === 'mismatch' ? 'bad' : r.ledger === 'confirmed' ? 'ok' : ''}>${r.ledger}</td>
            </tr>`,
            )}
            ${this.state.rejections.slice(0, 10).map(
              (r) => html`<tr>
              <td class="mono">${r.taskId.slice(0, 10)}</td><td colspan="4" class="bad">rejected: ${r.code}: ${r.message}</td>
            </tr>`,
            )}
          </tbody>
        </table>`
        }
      </section>
    </div>`;
  }
}

customElements.define('ailo-miner-dashboard', AiloMinerDashboard);
