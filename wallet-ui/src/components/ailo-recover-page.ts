/** <ailo-recover-page>: forgot password. The recovery key opens the wallet's second copy; a new password and key replace the old ones. */
import { LitElement, css, html, type TemplateResult } from 'lit';
import { normalizeUsername, passwordProblem, recoverAccount, usernameProblem } from '../account/account-session.js';
import { NodeError } from '../../../protocol/errors.js';
import type { NodeApi } from '../api/node-api.js';
import { parseRecoveryKey } from '../crypto/account-keys.js';
import { emit, problemText } from './events.js';
import { baseStyles } from './shared-styles.js';

export class AiloRecoverPage extends LitElement {
  static override properties = {
    api: { attribute: false },
    busy: { state: true },
    progress: { state: true },
    problem: { state: true },
  };

  declare api: NodeApi;
  declare busy: boolean;
  declare progress: number;
  declare problem: string | undefined;

  constructor() {
    super();
    this.busy = false;
    this.progress = 0;
  }

  static override styles = [
    baseStyles,
    css`
    .wrap { max-width: 520px; margin: 1.5rem auto 0; }
    .links { margin-top: 1.1rem; font-size: 0.95rem; }
    textarea { resize: vertical; min-height: 3.2rem; font-family: var(--mono); }
  `,
  ];

  private async loadFile(e: Event): Promise<void> {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (!file) return;
    const text = await file.text();
    const m = /Recovery key:\s*([0-9A-Za-z-]+)/.exec(text) ?? /([0-9A-Za-z]{4}(?:-[0-9A-Za-z]{4}){8})/.exec(text);
    const area = this.renderRoot.querySelector('textarea')!;
    area.value = m ? m[1]! : text.trim();
    const username = /Username:\s*(\S+)/.exec(text);
    const input = this.renderRoot.querySelector('input[name=username]') as HTMLInputElement;
    if (username && !input.value) input.value = username[1]!;
  }

  private async submit(e: SubmitEvent): Promise<void> {
    e.preventDefault();
    const data = new FormData(e.target as HTMLFormElement);
    const username = normalizeUsername(String(data.get('username')));
    const key = parseRecoveryKey(String(data.get('recoveryKey')));
    const password = String(data.get('password'));
    const problem =
      usernameProblem(username) ??
      (key.ok ? undefined : key.problem) ??
      passwordProblem(password) ??
      (password !== data.get('confirm') ? 'the two new passwords differ' : undefined);
    if (problem) {
      this.problem = problemText(new Error(problem)) + '.';
      return;
    }
    this.busy = true;
    this.problem = undefined;
    try {
      const { session, recoveryKey } = await recoverAccount(this.api, {
        username,
        recoveryKey: String(data.get('recoveryKey')),
        newPassword: password,
        onProgress: (p) => {
          this.progress = p;
        },
      });
      emit(this, 'session-started', { session, recoveryKey, recovered: true });
    } catch (err) {
      if (err instanceof NodeError && err.code === 'RECOVERY_KEY_WRONG')
        this.problem = 'This recovery key does not match that username. Check both and try again.';
      else if (err instanceof NodeError && err.code === 'RECOVERY_KEY_USED') this.problem = `${problemText(err)}.`;
      else this.problem = problemText(err);
    } finally {
      this.busy = false;
    }
  }

  override render(): TemplateResult {
    return html`<div class="wrap">
      <h1 tabindex="-1">Forgot password</h1>
      <p class="lead">Use your recovery key to choose a new password. The key works once; you will get a new one.</p>
      <form class="card" @submit=${this.submit} novalidate>
        <label>Username
          <input name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required />
        </label>
        <div class="field">
          <label for="recoveryKey">Recovery key</label>
          <textarea id="recoveryKey" name="recoveryKey" rows="2" autocomplete="off" autocapitalize="characters" spellcheck="false" required aria-describedby="rk-hint"></textarea>
          <span class="hint" id="rk-hint">36 characters, with or without dashes. Or load the .txt file you downloaded.</span>
        </div>
        <label>Recovery key file (optional)
          <input type="file" accept=".txt,text/plain" @change=${this.loadFile} />
        </label>
        <div class="field">
          <label for="password">New password</label>
          <input id="password" name="password" type="password" autocomplete="new-password" required aria-describedby="pw-hint" />
          <span class="hint" id="pw-hint">At least 8 characters.</span>
        </div>
        <label>Repeat the new password
          <input name="confirm" type="password" autocomplete="new-password" required />
        </label>
        ${this.problem ? html`<p class="notice error" role="alert">${this.problem}</p>` : ''}
        <div class="actions">
          <button type="submit" ?disabled=${this.busy}>${this.busy ? `Recovering… ${Math.round(this.progress * 100)}%` : 'Set new password'}</button>
        </div>
      </form>
      <p class="links"><a href="/login">Back to log in</a></p>
    </div>`;
  }
}

customElements.define('ailo-recover-page', AiloRecoverPage);
