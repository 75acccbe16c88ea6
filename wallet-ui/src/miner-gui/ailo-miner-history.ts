/** <ailo-miner-history>: the loss and tokens/s (hashrate) of every step since the miner started, and per model version. */
import { LitElement, css, html, type TemplateResult } from 'lit';
import '../components/ailo-line-chart.js';
import { baseStyles, statsStyles } from '../components/shared-styles.js';
import { formatRate, thin } from './format.js';
import type { MinerStateView, StepPoint } from '../../../trainer/miner/status.js';

const DRAWN = 400;

export class AiloMinerHistory extends LitElement {
  static override properties = { state: { attribute: false }, points: { attribute: false } };

  declare state: MinerStateView;
  declare points: StepPoint[];

  static override styles = [
    baseStyles,
    statsStyles,
    css`
    .charts ailo-line-chart { min-height: 8rem; }
    table { width: 100%; border-collapse: collapse; font-size: 0.9rem; }
    th, td { text-align: left; padding: 0.35rem 0.4rem; border-bottom: 1px solid var(--border); font-variant-numeric: tabular-nums; }
    th { color: var(--muted); font-weight: 600; }
  `,
  ];

  /** Per model version: steps, mean tokens/s, first and last loss. */
  private versions(): { version: number; steps: number; rate: number; first: number; last: number }[] {
    const by = new Map<number, StepPoint[]>();
    for (const p of this.points) by.set(p.modelVersion, [...(by.get(p.modelVersion) ?? []), p]);
    return [...by]
      .map(([version, ps]) => ({
        version,
        steps: ps.length,
        rate: ps.reduce((a, p) => a + p.tokensPerSecond, 0) / ps.length,
        first: ps[0]!.loss,
        last: ps.at(-1)!.loss,
      }))
      .reverse();
  }

  override render(): TemplateResult {
    const drawn = thin(this.points, DRAWN);
    const since = this.points[0] ? new Date(this.points[0].at).toLocaleTimeString() : undefined;
    return html`<section class="card">
      <h1 tabindex="-1">History</h1>
      <p class="lead">${this.points.length ? `${this.points.length} steps since ${since}` : 'No steps yet.'}</p>
      <div class="charts" data-testid="history-charts">
        <ailo-line-chart label="Loss per step" .values=${drawn.map((p) => p.loss)} .digits=${3}></ailo-line-chart>
        <ailo-line-chart label="Hashrate (tokens/s)" .values=${drawn.map((p) => p.tokensPerSecond)} .digits=${0}></ailo-line-chart>
      </div>
      ${
        this.points.length
          ? html`<h2>By model version</h2>
      <table>
        <thead><tr><th>Version</th><th>Steps</th><th>Tokens/s</th><th>Loss (first → last)</th></tr></thead>
        <tbody>${this.versions().map(
          (v) => html`<tr><td>${v.version}</td><td>${v.steps}</td><td>${formatRate(v.rate)}</td>
          <td>${v.first.toFixed(3)} → ${v.last.toFixed(3)}</td></tr>`,
        )}</tbody>
      </table>`
          : ''
      }
    </section>`;
  }
}

customElements.define('ailo-miner-history', AiloMinerHistory);
