/** <ailo-login-page>: username and password; the password never leaves the browser, only a proof derived from it. */
import { LitElement, css, html, type TemplateResult } from 'lit';
import { logIn } from '../account/account-session.js';
import { NodeError } from '../../../protocol/errors.js';
import type { NodeApi } from '../api/node-api.js';
import { emit, problemText } from './events.js';
import { baseStyles } from './shared-styles.js';

export class AiloLoginPage extends LitElement {
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
    .wrap { max-width: 440px; margin: 1.5rem auto 0; }
    .links { display: flex; justify-content: space-between; gap: 1rem; flex-wrap: wrap; margin-top: 1.1rem; font-size: 0.95rem; }
  `,
  ];

  private async submit(e: SubmitEvent): Promise<void> {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const data = new FormData(form);
    this.busy = true;
    this.problem = undefined;
    this.progress = 0;
    try {
      const session = await logIn(this.api, {
        username: String(data.get('username')),
        password: String(data.get('password')),
        onProgress: (p) => {
          this.progress = p;
        },
      });
      emit(this, 'session-started', { session });
    } catch (err) {
      this.problem = err instanceof NodeError && err.code === 'LOGIN_FAILED' ? 'Wrong username or password.' : problemText(err);
      (form.elements.namedItem('password') as HTMLInputElement).select();
    } finally {
      this.busy = false;
    }
  }

  override render(): TemplateResult {
    return html`<div class="wrap">
      <h1 tabindex="-1">Log in</h1>
      <p class="lead">Your password unlocks your wallet key here in the browser; the node never sees it.</p>
      <form class="card" @submit=${this.submit} aria-describedby="login-problem">
        <label>Username
          <input name="username" autocomplete="username" required autocapitalize="none" spellcheck="false" />
        </label>
        <label>Password
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        ${this.problem ? html`<p id="login-problem" class="notice error" role="alert">${this.problem}</p>` : ''}
        <div class="actions">
          <button type="submit" ?disabled=${this.busy}>${this.busy ? `Unlocking… ${Math.round(this.progress * 100)}%` : 'Log in'}</button>
        </div>
      </form>
      <div class="links">
        <a href="/register">Create an account</a>
        <a href="/recover">Forgot password?</a>
      </div>
    </div>`;
  }
}

customElements.define('ailo-login-page', AiloLoginPage);
