/**
 * <ailo-mining-panel>: "Start Mining" for the logged-in wallet. Shows what the tab's miner is doing: the model
 * download, the device it chose (or why it cannot mine), live loss and tokens/s with charts, every submission's
 * outcome, the ALC earned, and its log. Mining keeps going on other pages of the app; Stop ends it at once.
 * Task requests are signed here with the account's key (after a reload, the password unlocks it first).
 */
import { LitElement, css, html, type TemplateResult } from 'lit';
import type { AccountSession } from '../account/account-session.js';
import { networkDomainOf } from '../api/network.js';
import { miningController, type MiningState, type SubmissionOutcome } from '../browser-miner/mining-controller.js';
import type { BackendChoice, DownloadProgress } from '../browser-miner/protocol.js';
import { accountTaskSigner } from '../browser-miner/task-signer.js';
import { formatAlc } from '../../../protocol/amount.js';
import './ailo-line-chart.js';
import { unlockFromForm } from './events.js';
import { baseStyles, statsStyles } from './shared-styles.js';

export class AiloMiningPanel extends LitElement {
  static override properties = {
    session: { attribute: false },
    chainId: { attribute: false },
    genesisHash: { attribute: false },
    state: { state: true },
    unlocking: { state: true },
    startProblem: { state: true },
    busy: { state: true },
    versionLoss: { state: true },
  };

  /** Each recent model version's held-out loss as the node measures it (GET /api/round). */
  declare versionLoss: { version: number; loss: number }[];
  private roundTimer: ReturnType<typeof setInterval> | undefined;

  private async readRound(): Promise<void> {
    // Only once this tab mines: a node that runs no rounds answers 404, which the browser logs as an error.
    if (this.state.phase !== 'running' && this.state.outcomes.length === 0) return;
    try {
      this.versionLoss = (await this.session.api.round()).heldOutLoss ?? [];
    } catch {
      // A node without rounds, or unreachable for a moment: the chart waits for the next read.
    }
  }

  declare session: AccountSession;
  /** The node's chain (from /api/status), part of what a task request signs. */
  declare chainId: string | undefined;
  declare genesisHash: string | undefined;
  declare state: MiningState;
  /** The key is not in memory (the page was reloaded): the password form shows. */
  declare unlocking: boolean;
  declare startProblem: string | undefined;
  declare busy: boolean;
  private readonly onChange = (): void => {
    this.state = miningController.state;
  };

  constructor() {
    super();
    this.state = miningController.state;
    this.unlocking = false;
    this.busy = false;
    this.versionLoss = [];
  }

  private start(): void {
    this.startProblem = undefined;
    const network = networkDomainOf(this.chainId, this.genesisHash);
    if (!network) {
      this.startProblem = 'Waiting for the node to tell which network it runs; try again in a moment.';
      return;
    }
    if (!this.session.unlocked) {
      this.unlocking = true;
      return;
    }
    const session = this.session;
    miningController.start(
      session.address,
      accountTaskSigner(() => session.signingKey(), network),
    );
  }

  private async unlockAndStart(e: SubmitEvent): Promise<void> {
    this.busy = true;
    this.startProblem = undefined;
    this.startProblem = await unlockFromForm(this.session, e);
    this.busy = false;
    if (this.startProblem) return;
    this.unlocking = false;
    this.start();
  }

  private unlockForm(): TemplateResult {
    return html`<form class="stack" @submit=${this.unlockAndStart} data-testid="mining-unlock">
      <p class="notice info">Mining signs each task request with your wallet key, in this browser. Your session survived a page
        reload, but the key did not: enter your password to unlock it and start.</p>
      <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
      <div class="actions">
        <button type="submit" ?disabled=${this.busy}>${this.busy ? 'Unlocking…' : 'Unlock and start mining'}</button>
        <button type="button" class="secondary" ?disabled=${this.busy} @click=${() => {
          this.unlocking = false;
          this.startProblem = undefined;
        }}>Cancel</button>
      </div>
    </form>`;
  }

  static override styles = [
    baseStyles,
    statsStyles,
    css`
    :host { display: block; margin-bottom: 1rem; }
    .controls { display: flex; flex-wrap: wrap; gap: 1rem; align-items: end; margin-bottom: 0.75rem; }
    .controls label { display: grid; gap: 0.25rem; font-weight: 500; }
    .controls select { font: inherit; padding: 0.5rem; border: 1px solid var(--border-strong); border-radius: 8px; background: #fff; }
    .controls input[type='range'] { padding: 0; width: 12rem; accent-color: var(--accent); }
    progress { width: 100%; height: 0.6rem; accent-color: var(--accent); }
    ul.outcomes { list-style: none; padding: 0; margin: 0.75rem 0 0; max-height: 10rem; overflow: auto; font-size: 0.9rem; }
    ul.outcomes li { padding: 0.2rem 0; border-bottom: 1px solid var(--border); }
    details { margin-top: 0.75rem; }
    pre { max-height: 12rem; overflow: auto; font-size: 0.8rem; background: var(--accent-soft); padding: 0.5rem; border-radius: 8px; white-space: pre-wrap; }
  `,
  ];

  override connectedCallback(): void {
    super.connectedCallback();
    miningController.addEventListener('change', this.onChange);
    this.onChange();
    void this.readRound();
    this.roundTimer = setInterval(() => void this.readRound(), 10_000);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    miningController.removeEventListener('change', this.onChange);
    clearInterval(this.roundTimer);
  }

  private downloadView(d: DownloadProgress): TemplateResult {
    const done = d.ready === d.chunks;
    return html`<div data-testid="download">
      <span class="muted">${done ? `Model v${d.version} ready` : `Loading model v${d.version}`}: ${d.ready} of ${d.chunks} chunks
        (${d.fromCache} from this browser's cache, ${d.downloaded} downloaded)</span>
      <progress max=${d.bytesTotal} value=${d.bytesReady} aria-label="Model download"></progress>
    </div>`;
  }

  /** How many accepted contributions the ledger holds as promised, and which ones it does not. */
  private ledgerSummary(outcomes: SubmissionOutcome[]): TemplateResult {
    const accepted = outcomes.filter((o) => o.accepted);
    const count = (status: string): number => accepted.filter((o) => o.ledger?.status === status).length;
    const [missing, mismatch] = [count('missing'), count('mismatch')];
    const flags = [missing ? `${missing} missing` : '', mismatch ? `${mismatch} differ from what was accepted` : '']
      .filter(Boolean)
      .join(', ');
    return html`<p data-testid="ledger-status" class=${flags ? 'bad' : 'muted'}>On ledger ${count('confirmed')}/${accepted.length}${flags ? ` (${flags})` : ''}</p>`;
  }

  private ledgerView(o: SubmissionOutcome): string {
    const l = o.ledger;
    if (!l) return '';
    switch (l.status) {
      case 'checking':
        return ' · checking the ledger…';
      case 'pending':
        return " · in the node's pool, not in a block yet";
      case 'confirmed':
        return ` · on ledger, block ${l.height}`;
      case 'missing':
        return ` · NOT on the ledger: ${l.detail}`;
      case 'mismatch':
        return ` · ledger record differs: ${l.detail}`;
    }
  }

  override render(): TemplateResult {
    const st = this.state;
    const running = st.phase === 'running';
    const accepted = st.outcomes.filter((o) => o.accepted).length;
    const s = st.step;
    return html`<section class="card" aria-labelledby="mine-title" data-testid="mining">
      <h2 id="mine-title">Mining in this browser</h2>
      <div class="controls">
        <label>Device
          <select data-testid="backend" .value=${st.backend} ?disabled=${running}
            @change=${(e: Event) => miningController.setBackend((e.target as HTMLSelectElement).value as BackendChoice)}>
            <option value="auto">Automatic (WebGPU, else WASM)</option>
            <option value="webgpu">WebGPU</option>
            <option value="wasm">WASM (CPU)</option>
          </select></label>
        <label>Power: ${st.power}%
          <input type="range" min="10" max="100" step="5" .value=${String(st.power)} data-testid="power" aria-label="Power (share of time spent training)"
            @input=${(e: Event) => miningController.setPower(Number((e.target as HTMLInputElement).value))}></label>
        ${
          running
            ? html`<button class="danger" @click=${() => miningController.stop()}>Stop Mining</button>`
            : html`<button @click=${() => this.start()} ?disabled=${this.unlocking} data-testid="start-mining">Start Mining</button>`
        }
      </div>
      ${this.unlocking && !running ? this.unlockForm() : ''}
      ${this.startProblem ? html`<p class="notice error" role="alert" data-testid="mining-start-problem">${this.startProblem}</p>` : ''}
      ${st.problem ? html`<p class="notice ${st.phase === 'unsupported' ? 'warn' : 'error'}" role="alert" data-testid="mining-problem">${st.problem}</p>` : ''}
      ${st.device ? html`<p class="muted" data-testid="device">Training with ${st.device}.</p>` : ''}
      ${st.download ? this.downloadView(st.download) : running ? html`<p class="muted">Checking the model…</p>` : ''}
      <div class="stats" data-testid="mining-stats">
        <div><span class="muted">Step</span><strong data-testid="step">${s ? `${s.step} / ${s.steps}` : '–'}</strong></div>
        <div><span class="muted">Loss</span><strong data-testid="loss">${s ? s.loss.toFixed(3) : '–'}</strong></div>
        <div><span class="muted">Tokens/s</span><strong>${s ? Math.round(s.tokensPerSecond) : '–'}</strong></div>
        <div><span class="muted">Accepted / rejected</span><strong data-testid="submissions">${accepted} / ${st.outcomes.length - accepted}</strong></div>
        <div><span class="muted">Earned this session</span><strong data-testid="earned">${formatAlc(st.earned)} ALC</strong></div>
      </div>
      <div class="charts">
        <ailo-line-chart label="Loss of each step (every task starts again from its model version)" .values=${st.losses} .digits=${3}></ailo-line-chart>
        <ailo-line-chart label="Tokens/s" .values=${st.speeds} .digits=${0}></ailo-line-chart>
      </div>
      ${
        this.versionLoss.length > 0
          ? html`<div data-testid="version-loss">
        <ailo-line-chart label=${`Held-out loss by model version, measured by the node (v${this.versionLoss[0]!.version}-v${this.versionLoss.at(-1)!.version})`}
          .values=${this.versionLoss.map((v) => v.loss)} .digits=${3}></ailo-line-chart></div>`
          : ''
      }
      ${accepted ? this.ledgerSummary(st.outcomes) : ''}
      ${
        st.outcomes.length
          ? html`<ul class="outcomes" aria-label="Submissions" data-testid="outcomes">${st.outcomes.map(
              (o) =>
                html`<li class=${o.accepted && o.ledger?.status !== 'mismatch' && o.ledger?.status !== 'missing' ? 'ok' : 'bad'}><span class="mono">${o.taskId.slice(0, 10)}</span> ${o.text}${this.ledgerView(o)}</li>`,
            )}</ul>`
          : ''
      }
      ${st.log.length ? html`<details><summary>Log (${st.log.length} lines)</summary><pre data-testid="mining-log">${st.log.join('\n')}</pre></details>` : ''}
    </section>`;
  }
}

customElements.define('ailo-mining-panel', AiloMiningPanel);
