// Process entry point: `main.js [all|mock|pipeline]` (npm start, the
// containers). The CLI (cli.ts) runs the same services with `start`, `mock`
// and `pipeline`.
import { MODES, serve, type Mode } from './serve.js';

const arg = process.argv[2] ?? 'all';
if (!(MODES as readonly string[]).includes(arg)) {
  process.stderr.write(`usage: main [${MODES.join('|')}]\n`);
  process.exit(2);
}
await serve(arg as Mode);
