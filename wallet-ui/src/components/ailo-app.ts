/**
 * <ailo-app>: the shell. It owns the session, routes between pages by URL path, keeps the balance and chain head
 * live (polling while the tab is visible) and hands them down; pages send events up.
 */
import { LitElement, css, html, type PropertyValues, type TemplateResult } from 'lit';
import { AccountSession } from '../account/account-session.js';
import { NodeError } from '../../../protocol/errors.js';
import { NodeApi } from '../api/node-api.js';
import type { AccountRecord } from '../../../protocol/accounts.js';
import type { ChainHead, LedgerAccount, NetworkStatus } from '../../../protocol/ledger.js';
import type { AiloEvents, PendingTransfer } from './events.js';
import { miningController } from '../browser-miner/mining-controller.js';
import { roomController } from '../chat/room-controller.js';
import { formatAlc } from '../../../protocol/amount.js';
import { shellStyles } from './shared-styles.js';
import './ailo-chat-page.js';
import './ailo-dashboard-page.js';
import './ailo-login-page.js';
import './ailo-receive-page.js';
import './ailo-recover-page.js';
import './ailo-recovery-key-notice.js';
import './ailo-register-page.js';
import './ailo-send-page.js';
import './ailo-settings-page.js';
import './ailo-wallet-page.js';

type Route = '/login' | '/register' | '/recover' | '/dashboard' | '/wallet' | '/send' | '/receive' | '/chat' | '/settings';
const ROUTES: Route[] = ['/login', '/register', '/recover', '/dashboard', '/wallet', '/send', '/receive', '/chat', '/settings'];
const PUBLIC: Route[] = ['/login', '/register', '/recover', '/dashboard'];
const TITLES: Record<Route, string> = {
  '/login': 'Log in',
  '/register': 'Create account',
  '/recover': 'Forgot password',
  '/dashboard': 'Dashboard',
  '/wallet': 'Wallet',
  '/send': 'Send',
  '/receive': 'Receive',
  '/chat': 'Chat',
  '/settings': 'Settings',
};
const NAV: Route[] = ['/dashboard', '/wallet', '/send', '/receive', '/chat', '/settings'];
const STORAGE_KEY = 'ailo.session';
const POLL_MS = 2000;

interface StoredSession {
  token: string;
  expiresAt: number;
  account: AccountRecord;
}

export class AiloApp extends LitElement {
  static override properties = {
    route: { state: true },
    session: { state: true },
    status: { state: true },
    ledger: { state: true },
    head: { state: true },
    pending: { state: true },
    recoveryKey: { state: true },
    recoveryReason: { state: true },
    flash: { state: true },
    connection: { state: true },
  };

  declare route: Route;
  declare session: AccountSession | undefined;
  declare status: NetworkStatus | undefined;
  declare ledger: LedgerAccount | undefined;
  declare head: ChainHead | undefined;
  declare pending: PendingTransfer[];
  /** A recovery key just issued: shown once, before anything else. */
  declare recoveryKey: string | undefined;
  declare recoveryReason: 'new-account' | 'recovered' | 'replaced';
  declare flash: string | undefined;
  declare connection: 'ok' | 'down';

  private readonly api = new NodeApi();
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private polling = false;

  constructor() {
    super();
    this.route = '/login';
    this.pending = [];
    this.connection = 'ok';
    this.recoveryReason = 'new-account';
    this.session = this.restoreSession();
    this.route = this.routeFor(location.pathname);
  }

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('popstate', this.onPopState);
    document.addEventListener('visibilitychange', this.onVisibility);
    this.addEventListener('click', this.onLinkClick);
    this.listen('navigate', (d) => this.go(d.path));
    this.listen('session-started', (d) => {
      this.recoveryReason = d.recovered ? 'recovered' : 'new-account';
      this.startSession(d.session, d.recoveryKey);
    });
    this.listen('recovery-key-issued', (d) => {
      this.recoveryReason = 'replaced';
      this.recoveryKey = d.recoveryKey;
      this.persistSession();
    });
    this.listen('transfer-sent', (d) => {
      this.pending = [d, ...this.pending];
      void this.poll();
    });
    this.listen('log-out', () => void this.logOut());
    if (location.pathname !== this.route) history.replaceState(null, '', this.route);
    if (this.session)
      void this.api.me().then(
        ({ account }) => {
          if (this.session) this.session.account = account;
        },
        (err: unknown) => {
          if (err instanceof NodeError && err.status === 401) this.endSession('Your session has ended. Please log in again.');
        },
      );
    void this.poll();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener('popstate', this.onPopState);
    document.removeEventListener('visibilitychange', this.onVisibility);
    clearTimeout(this.pollTimer);
  }

  private listen<K extends keyof AiloEvents>(type: K, handler: (detail: AiloEvents[K]) => void): void {
    this.addEventListener(type, (e) => handler((e as CustomEvent<AiloEvents[K]>).detail));
  }

  private restoreSession(): AccountSession | undefined {
    try {
      const raw = sessionStorage.getItem(STORAGE_KEY);
      if (!raw) return undefined;
      const s = JSON.parse(raw) as StoredSession;
      if (s.expiresAt <= Date.now()) return undefined;
      return new AccountSession(this.api, s.account, s.token, s.expiresAt);
    } catch {
      return undefined;
    }
  }

  /** Keeps the token and the sealed record for this tab only; the opened key stays in memory. */
  private persistSession(): void {
    if (!this.session) sessionStorage.removeItem(STORAGE_KEY);
    else
      sessionStorage.setItem(
        STORAGE_KEY,
        JSON.stringify({
          token: this.session.token,
          expiresAt: this.session.expiresAt,
          account: this.session.account,
        } satisfies StoredSession),
      );
  }

  private startSession(session: AccountSession, recoveryKey?: string): void {
    this.session = session;
    this.recoveryKey = recoveryKey;
    this.ledger = undefined;
    this.pending = [];
    this.flash = undefined;
    this.persistSession();
    this.go('/wallet');
    void this.poll();
  }

  private endSession(flash?: string): void {
    miningController.stop(); // it mines for this session's wallet
    roomController.stop(); // it serves, and is paid, for this session's wallet
    this.session?.forgetKey();
    this.session = undefined;
    this.api.token = undefined;
    this.ledger = undefined;
    this.pending = [];
    this.recoveryKey = undefined;
    this.flash = flash;
    this.persistSession();
    this.go('/login');
  }

  private async logOut(): Promise<void> {
    await this.api.logout().catch(() => undefined); // the session ends here either way
    this.endSession('You are logged out. Your wallet key was wiped from this tab.');
  }

  private routeFor(path: string): Route {
    const route = (ROUTES as string[]).includes(path) ? (path as Route) : this.session ? '/wallet' : '/login';
    if (!this.session && !PUBLIC.includes(route)) return '/login';
    if (this.session && (route === '/login' || route === '/register')) return '/wallet';
    return route;
  }

  go(path: string): void {
    const route = this.routeFor(path);
    if (route !== '/login') this.flash = undefined;
    if (location.pathname !== route) history.pushState(null, '', route);
    this.route = route;
  }

  private readonly onPopState = (): void => {
    this.route = this.routeFor(location.pathname);
  };

  private readonly onVisibility = (): void => {
    if (document.visibilityState === 'visible') void this.poll();
  };

  /** Same-origin links navigate inside the app, without a page load. */
  private readonly onLinkClick = (e: MouseEvent): void => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.composedPath().find((n): n is HTMLAnchorElement => n instanceof HTMLAnchorElement);
    if (!a || a.target || a.hasAttribute('download') || a.origin !== location.origin) return;
    e.preventDefault();
    this.go(a.pathname);
  };

  /** One round of live data: status, head, balance, and whether pending transfers have landed. */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    clearTimeout(this.pollTimer);
    try {
      const [status, head] = await Promise.all([this.api.status(), this.api.head()]);
      this.status = status;
      this.head = head;
      if (this.session) {
        this.ledger = await this.api.account(this.session.address);
        if (this.pending.length > 0) {
          const landed = await Promise.all(
            this.pending.map((p) =>
              this.api.tx(p.hash).then(
                (t) => t.status === 'confirmed',
                () => false,
              ),
            ),
          );
          if (landed.some(Boolean)) this.pending = this.pending.filter((_, i) => !landed[i]);
        }
      }
      this.connection = 'ok';
    } catch (err) {
      if (err instanceof NodeError && err.code === 'UNREACHABLE') this.connection = 'down';
    } finally {
      this.polling = false;
      if (document.visibilityState === 'visible') this.pollTimer = setTimeout(() => void this.poll(), POLL_MS);
    }
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (changed.has('route') || changed.has('recoveryKey')) {
      document.title = `${this.recoveryKey ? 'Save your recovery key' : TITLES[this.route]} · Ailo Wallet`;
      if (changed.get('route') !== undefined || changed.has('recoveryKey')) void this.focusHeading();
    }
  }

  /** After navigation, focus moves to the new page's heading, so screen readers announce it. */
  private async focusHeading(): Promise<void> {
    const page = this.renderRoot.querySelector('main > *') as LitElement | null;
    await page?.updateComplete;
    (page?.shadowRoot?.querySelector('h1') as HTMLElement | null)?.focus();
  }

  static override styles = [
    shellStyles,
    css`
    .who { margin-left: auto; display: flex; align-items: center; gap: 0.75rem; font-size: 0.9rem; color: #c8d2f0; }
    .who strong { color: #fff; font-weight: 600; }
    .balance { color: #fff; background: rgb(255 255 255 / 10%); padding: 0.3rem 0.6rem; border-radius: 999px; white-space: nowrap; }
    .who button {
      font: inherit; font-weight: 600; color: #fff; background: transparent; border: 1px solid rgb(255 255 255 / 35%);
      border-radius: 8px; padding: 0.4rem 0.8rem; cursor: pointer;
    }
    .who button:hover { background: rgb(255 255 255 / 10%); }
    .flash { max-width: 1040px; margin: 1rem auto 0; padding: 0 1.25rem; }
    .flash p { background: #e6f6ed; color: #067647; border-radius: 8px; padding: 0.7rem 0.9rem; margin: 0; }
    @media (max-width: 720px) {
      .who .name { display: none; }
    }
  `,
  ];

  private nav(): TemplateResult {
    const visible = this.session ? NAV : (['/dashboard', '/login', '/register'] as Route[]);
    return html`<nav aria-label="Main">
      <ul>
        ${visible.map((r) => html`<li><a href=${r} aria-current=${this.route === r ? 'page' : 'false'}>${TITLES[r]}</a></li>`)}
      </ul>
    </nav>`;
  }

  private page(): TemplateResult {
    const s = this.session;
    if (s && this.recoveryKey) {
      return html`<ailo-recovery-key-notice .recoveryKey=${this.recoveryKey} .username=${s.account.username} .reason=${this.recoveryReason}
        @done=${() => {
          this.recoveryKey = undefined;
          void this.focusHeading();
        }}></ailo-recovery-key-notice>`;
    }
    switch (this.route) {
      case '/login':
        return html`<ailo-login-page .api=${this.api}></ailo-login-page>`;
      case '/register':
        return html`<ailo-register-page .api=${this.api}></ailo-register-page>`;
      case '/recover':
        return html`<ailo-recover-page .api=${this.api}></ailo-recover-page>`;
      case '/dashboard':
        return html`<ailo-dashboard-page .api=${this.api} .status=${this.status} .address=${s?.address} .session=${s} .head=${this.head}></ailo-dashboard-page>`;
      case '/wallet':
        return html`<ailo-wallet-page .api=${this.api} .session=${s} .ledger=${this.ledger} .head=${this.head} .pending=${this.pending}></ailo-wallet-page>`;
      case '/send':
        return html`<ailo-send-page .session=${s} .ledger=${this.ledger} .chainId=${this.status?.chainId} .genesisHash=${this.status?.genesisHash}></ailo-send-page>`;
      case '/receive':
        return html`<ailo-receive-page .address=${s?.address} .chainId=${this.status?.chainId}></ailo-receive-page>`;
      case '/chat':
        return html`<ailo-chat-page .api=${this.api} .session=${s} .chainId=${this.status?.chainId} .genesisHash=${this.status?.genesisHash}></ailo-chat-page>`;
      case '/settings':
        return html`<ailo-settings-page .session=${s}></ailo-settings-page>`;
    }
  }

  override render(): TemplateResult {
    const s = this.session;
    return html`
      <header>
        <div class="bar">
          <a class="brand" href=${s ? '/wallet' : '/login'}><span class="mark" aria-hidden="true">A</span>Ailo Wallet</a>
          ${this.nav()}
          ${
            s
              ? html`<div class="who">
            <span class="name"><span class="sr-only">Signed in as </span><strong>${s.account.username}</strong></span>
            ${
              this.ledger
                ? html`<span class="balance" title=${`${formatAlc(BigInt(this.ledger.balance))} ALC`}
              aria-label=${`Balance ${formatAlc(BigInt(this.ledger.balance))} ALC`}>${formatAlc(BigInt(this.ledger.balance), { maxDecimals: 4 })} ALC</span>`
                : ''
            }
            <button type="button" @click=${() => void this.logOut()}>Log out</button>
          </div>`
              : ''
          }
        </div>
      </header>
      ${this.connection === 'down' ? html`<p class="offline" role="status">The node is not answering. Figures may be out of date; retrying…</p>` : ''}
      ${this.flash ? html`<div class="flash" role="status"><p>${this.flash}</p></div>` : ''}
      <main>${this.page()}</main>
    `;
  }
}

customElements.define('ailo-app', AiloApp);

declare global {
  interface HTMLElementTagNameMap {
    'ailo-app': AiloApp;
  }
}
