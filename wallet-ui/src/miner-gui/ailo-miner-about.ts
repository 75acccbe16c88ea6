/** <ailo-miner-about>: the miner's version and runtime, the node it mines for, the wallet it pays, and links. */
import { LitElement, css, html, type TemplateResult } from 'lit';
import '../components/ailo-copy-button.js';
import { baseStyles } from '../components/shared-styles.js';
import type { MinerStateView } from '../../../trainer/miner/status.js';

export class AiloMinerAbout extends LitElement {
  static override properties = { state: { attribute: false } };

  declare state: MinerStateView;

  static override styles = [
    baseStyles,
    css`
    dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.5rem 1.25rem; margin: 0 0 1rem; }
    dt { color: var(--muted); }
    dd { margin: 0; display: flex; gap: 0.6rem; align-items: center; flex-wrap: wrap; }
  `,
  ];

  override render(): TemplateResult {
    const a = this.state.about;
    return html`<section class="card">
      <h1 tabindex="-1">About</h1>
      <p class="lead">ailo-miner trains the network's model on this machine and earns ALC for each accepted update.</p>
      <dl>
        <dt>Version</dt><dd data-testid="version">ailo-miner ${a.version}</dd>
        <dt>Runtime</dt><dd>${a.runtime}</dd>
        <dt>Node</dt><dd><a href=${a.node} rel="noreferrer" target="_blank" data-testid="node">${a.node}</a></dd>
        <dt>Wallet</dt><dd><span class="mono" data-testid="wallet">${a.wallet}</span><ailo-copy-button .text=${a.wallet} label="Copy address"></ailo-copy-button></dd>
        <dt>Chunk cache</dt><dd class="mono">${a.cache}</dd>
        <dt>Running since</dt><dd>${new Date(a.startedAt).toLocaleString()}</dd>
      </dl>
      <h2>Links</h2>
      <ul>${a.links.map((l) => html`<li><a href=${l.href} rel="noreferrer" target="_blank">${l.label}</a></li>`)}</ul>
    </section>`;
  }
}

customElements.define('ailo-miner-about', AiloMinerAbout);
