// piscina worker entry: register tsx in the pool thread, then hand piscina the task
// module's default export (piscina calls the default export of its `filename`).
import { register } from 'tsx/esm/api';

register();
const mod = await import(new URL('./verify_token_task.ts', import.meta.url).href);
export default mod.default;
