#!/usr/bin/env node
// The `switchboardctl` npm bin: runs ops/ctl/cli.ts under tsx, resolved from this
// checkout's node_modules, so it works from any directory (npm link, npx, a PATH entry).
import { register } from 'tsx/esm/api';

register();
const { run } = await import('./cli.ts');
process.exitCode = await run(process.argv.slice(2));
