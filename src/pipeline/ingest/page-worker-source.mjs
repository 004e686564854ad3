// The page worker when the app runs from its TypeScript source (npm start
// under tsx, vitest): registers tsx in this worker thread, then loads the
// worker module. Built code (dist/) loads page-worker.js directly.
import { register } from 'tsx/esm/api';

register();
const { default: prepare } = await import('./page-worker.ts');
export default prepare;
