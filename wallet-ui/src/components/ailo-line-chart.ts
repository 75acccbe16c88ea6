/** <ailo-line-chart>: one series (loss, tokens/s) as a line over its last points, labelled with its range. */
import { LitElement, css, html, svg, type TemplateResult } from 'lit';
import { baseStyles } from './shared-styles.js';

const W = 320;
const H = 110;
const PAD = 6;

export class AiloLineChart extends LitElement {
  static override properties = { values: { attribute: false }, label: {}, digits: { type: Number } };

  declare values: number[];
  declare label: string;
  declare digits: number;

  constructor() {
    super();
    this.values = [];
    this.label = '';
    this.digits = 2;
  }

  static override styles = [
    baseStyles,
    css`
    :host { display: block; }
    svg { width: 100%; height: auto; display: block; background: var(--accent-soft); border-radius: 8px; }
    .line { fill: none; stroke: var(--accent); stroke-width: 2; vector-effect: non-scaling-stroke; }
    figcaption { display: flex; justify-content: space-between; font-size: 0.84rem; color: var(--muted); margin-bottom: 0.25rem; }
    figure { margin: 0; }
  `,
  ];

  override render(): TemplateResult {
    const v = this.values;
    const lo = Math.min(...v);
    const hi = Math.max(...v);
    const span = hi - lo || 1;
    const x = (i: number): number => PAD + (i * (W - 2 * PAD)) / Math.max(1, v.length - 1);
    const y = (n: number): number => H - PAD - ((n - lo) / span) * (H - 2 * PAD);
    const points = v.map((n, i) => `${x(i).toFixed(1)},${y(n).toFixed(1)}`).join(' ');
    const range = v.length ? `${lo.toFixed(this.digits)} – ${hi.toFixed(this.digits)}` : 'no data yet';
    return html`<figure>
      <figcaption><span>${this.label}</span><span>${range}</span></figcaption>
      <svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${this.label}: ${v.length} points, ${range}">
        ${v.length > 1 ? svg`<polyline class="line" points=${points}></polyline>` : ''}
      </svg>
    </figure>`;
  }
}

customElements.define('ailo-line-chart', AiloLineChart);
