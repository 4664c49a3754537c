// piscina worker entry for the media hash pool: register tsx in the pool thread, then
// hand piscina the task's default export (node/media/hash_task.ts).
import { register } from 'tsx/esm/api';

register();
const mod = await import(new URL('./hash_task.ts', import.meta.url).href);
export default mod.default;
