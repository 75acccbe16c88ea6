/** `npm run build:ui` (always builds) and `npm run build:ui -- --if-stale` (what `npm start` runs). */
import { buildUi, ensureUiBuilt } from './ui-build.js';

const ifStale = process.argv.includes('--if-stale');
(ifStale ? ensureUiBuilt() : buildUi()).catch((err: Error) => {
  console.error(`wallet UI build failed: ${err.message}`);
  process.exit(1);
});
