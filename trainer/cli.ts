// `ailo-trainer` entry point (bin/ailo-trainer.js and `npm run trainer --` load it); the commands are in commands.ts.
import { main } from './commands.js';

process.exitCode = await main(process.argv.slice(2));
