#!/usr/bin/env node
// Loads the TypeScript entry point in this process through tsx, so signals reach it directly and no build step is needed.
import { register } from 'tsx/esm/api';

register();
await import('../node/ailo-miner/cli.ts');
