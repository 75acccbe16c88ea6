/**
 * <ailo-miner-app>: the miner GUI's shell. It keeps the state the miner streams (the state, the log, the loss and
 * tokens/s history), routes between its pages by URL path and hands them what they show.
 */
import { LitElement, css, html, type TemplateResult } from 'lit';
import { shellStyles } from '../components/shared-styles.js';
import { formatAlc } from '../../../protocol/amount.js';
import { connect } from './miner-api.js';
import type { LogEntry, MinerStateView, StepPoint } from '../../../trainer/miner/status.js';
import './ailo-miner-about.js';
import './ailo-miner-dashboard.js';
import './ailo-miner-history.js';
import './ailo-miner-logs.js';
import './ailo-miner-settings.js';

type Route = '/' | '/history' | '/logs' | '/settings' | '/about';
const ROUTES: Route[] = ['/', '/history', '/logs', '/settings', '/about'];
const TITLES: Record<Route, string> = {
  '/': 'Dashboard',
  '/history': 'History',
  '/logs': 'Logs',
  '/settings': 'Settings',
  '/about': 'About',
};
/** What the page keeps; the miner keeps more and exports the whole log. */
const KEEP = { logs: 2000, points: 5000 };

export class AiloMinerApp extends LitElement {
  static override properties = {
    route: { state: true },
    state: { state: true },
    logs: { state: true },
    points: { state: true },
    connected: { state: true },
  };

  declare route: Route;
  declare state: MinerStateView | undefined;
  declare logs: LogEntry[];
  declare points: StepPoint[];
  declare connected: boolean;
  private disconnect: (() => void) | undefined;

  constructor() {
    super();
    this.route = routeFor(location.pathname);
    this.logs = [];
    this.points = [];
    this.connected = true;
  }

  static override styles = [
    shellStyles,
    css`
    .earned { margin-left: auto; color: #fff; background: rgb(255 255 255 / 10%); padding: 0.3rem 0.6rem; border-radius: 999px; white-space: nowrap; }
  `,
  ];

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('popstate', this.onPopState);
    this.addEventListener('click', this.onLinkClick);
    this.addEventListener('miner-state', (e) => this.takeState((e as CustomEvent<MinerStateView>).detail));
    this.disconnect = connect({
      onState: (s) => this.takeState(s),
      onLog: (entry) => (this.logs = [...this.logs, entry].slice(-KEEP.logs)),
      onPoint: (p) => (this.points = [...this.points, p].slice(-KEEP.points)),
      onConnection: (up) => (this.connected = up),
    });
    if (location.pathname !== this.route) history.replaceState(null, '', this.route);
    document.title = `${TITLES[this.route]} · Ailo Miner`;
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener('popstate', this.onPopState);
    this.disconnect?.();
  }

  /** A full state (on connecting, and after a settings change) replaces the log and history; a `state` event keeps them. */
  private takeState(s: MinerStateView): void {
    if (s.logs) this.logs = s.logs;
    if (s.history) this.points = s.history;
    this.state = s;
    this.connected = true;
  }

  private readonly onPopState = (): void => {
    this.route = routeFor(location.pathname);
  };

  /** Same-origin links to a page of this app navigate without a page load. */
  private readonly onLinkClick = (e: MouseEvent): void => {
    const a = e.composedPath().find((n): n is HTMLAnchorElement => n instanceof HTMLAnchorElement);
    if (!a || a.origin !== location.origin || a.hasAttribute('download') || e.ctrlKey || e.metaKey || e.shiftKey) return;
    if (!ROUTES.includes(a.pathname as Route)) return;
    e.preventDefault();
    this.route = a.pathname as Route;
    history.pushState(null, '', this.route);
    document.title = `${TITLES[this.route]} · Ailo Miner`;
  };

  private page(): TemplateResult {
    const s = this.state;
    if (!s) return html`<p class="muted">Connecting to the miner…</p>`;
    switch (this.route) {
      case '/':
        return html`<ailo-miner-dashboard .state=${s} .points=${this.points}></ailo-miner-dashboard>`;
      case '/history':
        return html`<ailo-miner-history .state=${s} .points=${this.points}></ailo-miner-history>`;
      case '/logs':
        return html`<ailo-miner-logs .logs=${this.logs}></ailo-miner-logs>`;
      case '/settings':
        return html`<ailo-miner-settings .state=${s}></ailo-miner-settings>`;
      case '/about':
        return html`<ailo-miner-about .state=${s}></ailo-miner-about>`;
    }
  }

  override render(): TemplateResult {
    const s = this.state;
    return html`
      <header>
        <div class="bar">
          <a class="brand" href="/"><span class="mark" aria-hidden="true">A</span>Ailo Miner</a>
          <nav aria-label="Main">
            <ul>${ROUTES.map((r) => html`<li><a href=${r} aria-current=${this.route === r ? 'page' : 'false'}>${TITLES[r]}</a></li>`)}</ul>
          </nav>
          ${s ? html`<span class="earned" data-testid="session-earned" aria-label=${`Earned this session: ${formatAlc(BigInt(s.totals.earned))} ALC`}>${formatAlc(BigInt(s.totals.earned), { maxDecimals: 4 })} ALC <span class="muted">this session</span></span>` : ''}
        </div>
      </header>
      ${this.connected ? '' : html`<p class="offline" role="status">The miner is not answering (stopped, or restarting?). Reconnecting…</p>`}
      <main>${this.page()}</main>
    `;
  }
}

function routeFor(path: string): Route {
  return ROUTES.includes(path as Route) ? (path as Route) : '/';
}

customElements.define('ailo-miner-app', AiloMinerApp);

declare global {
  interface HTMLElementTagNameMap {
    'ailo-miner-app': AiloMinerApp;
  }
}
