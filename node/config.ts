/**
 * Node configuration: defaults, a JSON file (--config, SWITCHBOARD_CONFIG, or
 * ./switchboard.json when present), then a few command-line overrides. Validated once
 * at start; any bad or unknown key stops the node with a message naming it (e.g.
 * `limits.maxFrameBytes: must be an integer between 1024 and 16777216`). Every key is
 * described in node/config/docs.ts, from which docs/CONFIG.md is generated
 * (`npm run config:doc`; node/config_doc.ts); the `cluster` section's types and
 * defaults are in node/cluster_config.ts.
 *
 * This file is the one door to the config; its parts, one role each, are in node/config/:
 *   types.ts     every section and key as types
 *   defaults.ts  the default of every key, with its reason
 *   docs.ts      what every key does (CONFIG_DOCS)
 *   checks.ts    the value checks the schema is built from, and ConfigError
 *   schema.ts    one check per key
 *   validate.ts  validateConfig, merge
 *   derived.ts   settings derived from the config (send limits, writer options)
 *   load.ts      loadConfig, parseArgs
 */
export type { AuthKeyConfig, Config, MediaConfig, MediaS3Config, PushConfig, PushProvidersConfig, TlsConfig } from './config/types.js';
export { ConfigError, type Check, type CheckDoc, type Schema } from './config/checks.js';
export { defaultConfig } from './config/defaults.js';
export { CONFIG_DOCS } from './config/docs.js';
export { configSchema } from './config/schema.js';
export { merge, validateConfig } from './config/validate.js';
export { sendLimitRules, writerOptions } from './config/derived.js';
export { loadConfig, parseArgs, type CliOverrides } from './config/load.js';
