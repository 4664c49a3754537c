// Types of ops/lint/layers.js (plain JavaScript so eslint.config.js loads it without a
// TypeScript loader), for the TypeScript tools that share its lists (import_graph.ts).
export declare const REPO_ROOT: string;
export declare const DOC: string;
export declare const CONTRACT_FILES: readonly string[];
export declare const CONTRACT_DIRS: readonly string[];
export declare const LAYERS: Readonly<Record<string, { label: string; may: readonly string[] }>>;
export declare const TEST_SUPPORT: readonly RegExp[];
export declare const TEST_EXTRAS: readonly string[];
export declare function layerOf(rel: string): string | null;
export declare function checkImport(fromRel: string, spec: string): string | null;
export declare const layersPlugin: { rules: Record<string, unknown> };
