/** <ailo-earnings-chart>: ALC earned per day as bars, with the figures also in a table for screen readers. */
import { LitElement, css, html, svg, type TemplateResult } from 'lit';
import { formatAlc } from '../../../protocol/amount.js';
import type { Earnings } from '../wallet/history.js';
import { baseStyles } from './shared-styles.js';

const W = 640;
const H = 180;
const PAD = { left: 8, right: 8, top: 12, bottom: 26 };

export class AiloEarningsChart extends LitElement {
  static override properties = { earnings: { attribute: false } };

  declare earnings: Earnings;

  static override styles = [
    baseStyles,
    css`
    svg { width: 100%; height: auto; display: block; }
    .bar { fill: var(--accent); }
    .bar.zero { fill: var(--border); }
    .axis { fill: var(--muted); font-size: 11px; }
    .base { stroke: var(--border-strong); }
  `,
  ];

  override render(): TemplateResult {
    const days = this.earnings.days;
    const max = days.reduce((m, d) => (d.amount > m ? d.amount : m), 0n);
    const slot = (W - PAD.left - PAD.right) / days.length;
    const plotH = H - PAD.top - PAD.bottom;
    const label = `ALC earned per day over the last ${days.length} days; total ${formatAlc(this.earnings.total)} ALC`;
    const bars = days.map((d, i) => {
      // Scale in bigint thousandths so huge amounts never lose precision through Number.
      const h = max === 0n ? 0 : Math.max(d.amount > 0n ? 2 : 0, (Number((d.amount * 1000n) / max) / 1000) * plotH);
      const x = PAD.left + i * slot + slot * 0.15;
      return svg`<rect class="bar ${d.amount === 0n ? 'zero' : ''}" x=${x} y=${PAD.top + plotH - Math.max(h, 1)} width=${slot * 0.7} height=${Math.max(h, 1)}>
        <title>${d.day}: ${formatAlc(d.amount)} ALC</title></rect>
        ${i % 2 === days.length % 2 ? '' : svg`<text class="axis" x=${x + slot * 0.35} y=${H - 8} text-anchor="middle">${d.day.slice(5)}</text>`}`;
    });
    return html`
      <svg viewBox="0 0 ${W} ${H}" role="img" aria-label=${label}>
        <line class="base" x1=${PAD.left} x2=${W - PAD.right} y1=${PAD.top + plotH + 0.5} y2=${PAD.top + plotH + 0.5}></line>
        ${bars}
      </svg>
      <!-- In a block: a table ignores width 1px and overflow, and its columns pushed a 390 px page to 513 px. -->
      <div class="sr-only"><table>
        <caption>${label}</caption>
        <thead><tr><th scope="col">Day</th><th scope="col">ALC</th></tr></thead>
        <tbody>${days.map((d) => html`<tr><td>${d.day}</td><td>${formatAlc(d.amount)}</td></tr>`)}</tbody>
      </table></div>
    `;
  }
}

customElements.define('ailo-earnings-chart', AiloEarningsChart);
