/** Styles every page shares: cards, forms, buttons, notices. Each element adds its own on top. */
import { css } from 'lit';

export const baseStyles = css`
  :host { display: block; }
  * { box-sizing: border-box; }
  h1 { font-size: 1.55rem; line-height: 1.2; margin: 0 0 0.35rem; }
  h1:focus { outline: none; }
  h2 { font-size: 1.1rem; margin: 0 0 0.75rem; }
  p { margin: 0 0 0.75rem; }
  .lead { color: var(--muted); margin-bottom: 1.25rem; }
  .card {
    background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius);
    box-shadow: var(--shadow); padding: 1.25rem 1.35rem;
  }
  .stack { display: grid; gap: 1rem; }
  form { display: grid; gap: 1rem; }
  form > h2 { margin: 0; }
  label { display: grid; gap: 0.3rem; font-weight: 600; font-size: 0.92rem; }
  .field { display: grid; gap: 0.3rem; }
  .hint { font-weight: 400; color: var(--muted); font-size: 0.84rem; }
  input, textarea, select {
    font: inherit; font-weight: 400; color: var(--text); background: #fff; width: 100%; min-width: 0;
    padding: 0.6rem 0.75rem; border: 1px solid var(--border-strong); border-radius: 8px;
  }
  input[aria-invalid='true'] { border-color: var(--danger); }
  input:focus-visible, textarea:focus-visible, button:focus-visible, a:focus-visible, select:focus-visible, summary:focus-visible {
    outline: 3px solid var(--focus); outline-offset: 2px;
  }
  .field-error { color: var(--danger); font-weight: 500; font-size: 0.84rem; }
  button {
    font: inherit; font-weight: 600; padding: 0.62rem 1.1rem; border-radius: 8px; cursor: pointer;
    border: 1px solid var(--accent); background: var(--accent); color: #fff;
  }
  button:hover:not(:disabled) { background: var(--accent-strong); border-color: var(--accent-strong); }
  button.secondary { background: #fff; color: var(--accent); border-color: var(--border-strong); }
  button.secondary:hover:not(:disabled) { background: var(--accent-soft); border-color: var(--accent); }
  button.danger { background: #fff; color: var(--danger); border-color: var(--border-strong); }
  button.danger:hover:not(:disabled) { background: var(--danger-bg); border-color: var(--danger); }
  button:disabled { opacity: 0.6; cursor: default; }
  .actions { display: flex; gap: 0.75rem; flex-wrap: wrap; align-items: center; }
  .notice { border-radius: 8px; padding: 0.7rem 0.9rem; margin: 0; }
  .notice.error { color: var(--danger); background: var(--danger-bg); }
  .notice.ok { color: var(--success); background: var(--success-bg); }
  .notice.warn { color: var(--warning); background: var(--warning-bg); }
  .notice.info { color: var(--accent-strong); background: var(--accent-soft); }
  .mono { font-family: var(--mono); font-size: 0.92em; overflow-wrap: anywhere; }
  .muted { color: var(--muted); }
  a { color: var(--accent); }
  .sr-only {
    position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
  }
`;
