/** <ailo-miner-logs>: the miner's log, newest last, with a level filter and export of the whole log as a file. */
import { LitElement, css, html, type PropertyValues, type TemplateResult } from 'lit';
import { baseStyles } from '../components/shared-styles.js';
import type { LogEntry } from '../../../trainer/miner/status.js';

export class AiloMinerLogs extends LitElement {
  static override properties = { logs: { attribute: false }, onlyProblems: { state: true } };

  declare logs: LogEntry[];
  declare onlyProblems: boolean;

  constructor() {
    super();
    this.logs = [];
    this.onlyProblems = false;
  }

  static override styles = [
    baseStyles,
    css`
    .log { max-height: 60vh; overflow: auto; background: #0f1629; color: #d9e1f7; border-radius: 8px; padding: 0.6rem 0.8rem; font-family: var(--mono); font-size: 0.82rem; }
    .log p { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
    .log time { color: #8c9bc4; margin-right: 0.6rem; }
    .warn { color: #ffd27a; }
    .error { color: #ff9b9b; }
    a.btn {
      font-weight: 600; padding: 0.62rem 1.1rem; border-radius: 8px; text-decoration: none;
      border: 1px solid var(--accent); background: var(--accent); color: #fff;
    }
    a.btn:hover { background: var(--accent-strong); }
    a.btn.secondary { background: #fff; color: var(--accent); border-color: var(--border-strong); }
    a.btn.secondary:hover { background: var(--accent-soft); }
    .actions { margin: 0.5rem 0 0.9rem; }
    .actions label { display: flex; gap: 0.4rem; align-items: center; font-weight: 500; }
    .actions input { width: auto; }
  `,
  ];

  protected override updated(changed: PropertyValues): void {
    if (changed.has('logs')) {
      const box = this.renderRoot.querySelector('.log');
      if (box) box.scrollTop = box.scrollHeight;
    }
  }

  override render(): TemplateResult {
    const shown = this.onlyProblems ? this.logs.filter((e) => e.level !== 'info') : this.logs;
    return html`<section class="card">
      <h1 tabindex="-1">Logs</h1>
      <div class="actions">
        <a class="btn" href="/api/miner/logs?format=text" download data-testid="export-text">Export .log</a>
        <a class="btn secondary" href="/api/miner/logs?format=jsonl" download data-testid="export-jsonl">Export .jsonl</a>
        <label><input type="checkbox" .checked=${this.onlyProblems} @change=${(e: Event) => (this.onlyProblems = (e.target as HTMLInputElement).checked)} />
          Warnings and errors only</label>
        <span class="muted">${shown.length} lines shown; the export has the whole log.</span>
      </div>
      <div class="log" role="log" aria-live="polite" data-testid="log">
        ${shown.map((e) => html`<p class=${e.level}><time datetime=${new Date(e.at).toISOString()}>${new Date(e.at).toLocaleTimeString()}</time>${e.text}</p>`)}
      </div>
    </section>`;
  }
}

customElements.define('ailo-miner-logs', AiloMinerLogs);
