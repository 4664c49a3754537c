// piscina worker entry for the media hash pool: register tsx in the pool thread, then
// hand piscina the task's default export (node/tasks/hash_task.ts).
import { register } from 'tsx/esm/api';

register();
const mod = await import(new URL('../tasks/hash_task.ts', import.meta.url).href);
export default mod.default;
