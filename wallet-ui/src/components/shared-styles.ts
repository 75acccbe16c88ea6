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

/** The page shell both apps share (the wallet and the miner's GUI): a dark header bar with the brand and nav, the main column. */
export const shellStyles = css`
  :host { display: block; min-height: 100vh; }
  header { background: #111a33; color: #fff; }
  .bar {
    max-width: 1040px; margin: 0 auto; padding: 0.7rem 1.25rem; display: flex; align-items: center; gap: 1.25rem; flex-wrap: wrap;
  }
  .brand { display: flex; align-items: center; gap: 0.55rem; color: #fff; text-decoration: none; font-weight: 700; font-size: 1.1rem; }
  .brand .mark { width: 28px; height: 28px; border-radius: 7px; background: #3a5bd9; display: grid; place-items: center; font-size: 0.95rem; }
  nav ul { display: flex; gap: 0.25rem; list-style: none; margin: 0; padding: 0; flex-wrap: wrap; }
  nav a {
    color: #c8d2f0; text-decoration: none; padding: 0.45rem 0.75rem; border-radius: 8px; display: block; font-weight: 500;
  }
  nav a:hover { color: #fff; background: rgb(255 255 255 / 8%); }
  nav a[aria-current='page'] { color: #fff; background: rgb(255 255 255 / 14%); }
  nav a:focus-visible, button:focus-visible, .brand:focus-visible { outline: 3px solid #9fb3ff; outline-offset: 2px; }
  .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
  main { max-width: 1040px; margin: 0 auto; padding: 1.75rem 1.25rem 3rem; }
  .offline { background: #fff5dd; color: #8a5a00; text-align: center; padding: 0.5rem 1rem; margin: 0; }
  @media (max-width: 720px) {
    .bar { gap: 0.6rem; padding: 0.6rem 0.9rem; }
    nav { order: 3; width: 100%; }
    nav a { padding: 0.4rem 0.55rem; font-size: 0.95rem; }
    main { padding: 1.1rem 0.9rem 2.5rem; }
  }
`;

/** Live figures in a row of labelled numbers, and charts side by side (the browser miner's panel, the miner GUI). */
export const statsStyles = css`
  .stats { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr)); gap: 0.75rem; margin: 0.75rem 0; }
  @media (max-width: 820px) { .stats { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
  .stats div { display: grid; }
  .stats strong { font-size: 1.2rem; font-variant-numeric: tabular-nums; }
  .charts { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
  @media (max-width: 620px) { .charts { grid-template-columns: 1fr; } }
  .ok { color: var(--success); }
  .bad { color: var(--danger); }
`;
