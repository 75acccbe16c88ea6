/** <ailo-register-page>: a new account with a wallet key made in this browser, or one the user imports. */
import { LitElement, css, html, type TemplateResult } from 'lit';
import { normalizeUsername, parsePrivateKey, passwordProblem, registerAccount, usernameProblem } from '../account/account-session.js';
import { NodeError } from '../../../protocol/errors.js';
import type { NodeApi } from '../api/node-api.js';
import { emit, problemText } from './events.js';
import { baseStyles } from './shared-styles.js';

type Field = 'username' | 'password' | 'confirm' | 'privateKey';

export class AiloRegisterPage extends LitElement {
  static override properties = {
    api: { attribute: false },
    busy: { state: true },
    progress: { state: true },
    problem: { state: true },
    fieldProblems: { state: true },
    importing: { state: true },
  };

  declare api: NodeApi;
  declare busy: boolean;
  declare progress: number;
  declare problem: string | undefined;
  declare fieldProblems: Partial<Record<Field, string>>;
  declare importing: boolean;

  constructor() {
    super();
    this.busy = false;
    this.progress = 0;
    this.fieldProblems = {};
    this.importing = false;
  }

  static override styles = [
    baseStyles,
    css`
    .wrap { max-width: 520px; margin: 1.5rem auto 0; }
    .links { margin-top: 1.1rem; font-size: 0.95rem; }
    fieldset { border: 1px dashed var(--border-strong); border-radius: 8px; padding: 0.75rem 0.9rem; margin: 0; display: grid; gap: 0.75rem; }
    legend { font-weight: 600; font-size: 0.92rem; padding: 0 0.3rem; }
    .check { display: flex; gap: 0.55rem; align-items: flex-start; font-weight: 500; }
    .check input { width: auto; margin-top: 0.25rem; }
  `,
  ];

  private check(data: FormData): Partial<Record<Field, string>> {
    const problems: Partial<Record<Field, string>> = {};
    const u = usernameProblem(normalizeUsername(String(data.get('username'))));
    if (u) problems.username = u.charAt(0).toUpperCase() + u.slice(1) + '.';
    const p = passwordProblem(String(data.get('password')));
    if (p) problems.password = p.charAt(0).toUpperCase() + p.slice(1) + '.';
    else if (data.get('password') !== data.get('confirm')) problems.confirm = 'The two passwords differ.';
    if (this.importing) {
      const k = parsePrivateKey(String(data.get('privateKey') ?? ''));
      if (!k.ok) problems.privateKey = k.problem.charAt(0).toUpperCase() + k.problem.slice(1) + '.';
    }
    return problems;
  }

  private async submit(e: SubmitEvent): Promise<void> {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const data = new FormData(form);
    this.fieldProblems = this.check(data);
    const first = Object.keys(this.fieldProblems)[0];
    if (first) {
      await this.updateComplete;
      (form.elements.namedItem(first) as HTMLInputElement | null)?.focus();
      return;
    }
    this.busy = true;
    this.problem = undefined;
    try {
      const parsed = this.importing ? parsePrivateKey(String(data.get('privateKey'))) : undefined;
      const { session, recoveryKey } = await registerAccount(this.api, {
        username: String(data.get('username')),
        password: String(data.get('password')),
        importKey: parsed?.ok ? parsed.key : undefined,
        onProgress: (p) => {
          this.progress = p;
        },
      });
      form.reset();
      emit(this, 'session-started', { session, recoveryKey });
    } catch (err) {
      if (err instanceof NodeError && err.code === 'USERNAME_TAKEN')
        this.fieldProblems = { username: 'This username is taken; pick another.' };
      else this.problem = problemText(err);
    } finally {
      this.busy = false;
    }
  }

  private field(name: Field, label: string, input: TemplateResult, hint?: string): TemplateResult {
    const problem = this.fieldProblems[name];
    return html`<div class="field">
      <label for=${name}>${label}</label>
      ${input}
      ${
        problem
          ? html`<span class="field-error" id="${name}-error">${problem}</span>`
          : hint
            ? html`<span class="hint" id="${name}-hint">${hint}</span>`
            : ''
      }
    </div>`;
  }

  override render(): TemplateResult {
    const fp = this.fieldProblems;
    const described = (name: Field, hint = false): string => (fp[name] ? `${name}-error` : hint ? `${name}-hint` : '');
    return html`<div class="wrap">
      <h1 tabindex="-1">Create an account</h1>
      <p class="lead">Your wallet key is created and encrypted in this browser. The node stores only the encrypted copy.</p>
      <form class="card" @submit=${this.submit} novalidate>
        ${this.field(
          'username',
          'Username',
          html`<input id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false"
          required aria-invalid=${fp.username ? 'true' : 'false'} aria-describedby=${described('username', true)} />`,
          '3 to 32 letters, digits, dots, dashes or underscores.',
        )}
        ${this.field(
          'password',
          'Password',
          html`<input id="password" name="password" type="password" autocomplete="new-password" required
          aria-invalid=${fp.password ? 'true' : 'false'} aria-describedby=${described('password', true)} />`,
          'At least 8 characters. A long passphrase is best: nobody can reset it for you without your recovery key.',
        )}
        ${this.field(
          'confirm',
          'Repeat the password',
          html`<input id="confirm" name="confirm" type="password" autocomplete="new-password" required
          aria-invalid=${fp.confirm ? 'true' : 'false'} aria-describedby=${described('confirm')} />`,
        )}
        <fieldset>
          <legend>Wallet key</legend>
          <label class="check"><input type="checkbox" .checked=${this.importing} @change=${(e: Event) => {
            this.importing = (e.target as HTMLInputElement).checked;
          }} />
            I already have a private key and want to use it</label>
          ${
            this.importing
              ? this.field(
                  'privateKey',
                  'Private key',
                  html`<input id="privateKey" name="privateKey" type="password" autocomplete="off" spellcheck="false" class="mono"
                aria-invalid=${fp.privateKey ? 'true' : 'false'} aria-describedby=${described('privateKey', true)} />`,
                  '64 hex digits. It is encrypted here before anything is sent.',
                )
              : html`<p class="hint">A new key will be created for you.</p>`
          }
        </fieldset>
        ${this.problem ? html`<p class="notice error" role="alert">${this.problem}</p>` : ''}
        <div class="actions">
          <button type="submit" ?disabled=${this.busy}>${this.busy ? `Creating… ${Math.round(this.progress * 100)}%` : 'Create account'}</button>
        </div>
      </form>
      <p class="links">Already registered? <a href="/login">Log in</a></p>
    </div>`;
  }
}

customElements.define('ailo-register-page', AiloRegisterPage);
