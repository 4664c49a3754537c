// Lint = type-check (tsc, in `npm run lint`) plus these rules.
import tseslint from 'typescript-eslint';
import { layersPlugin } from './ops/lint/layers.js';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.cache/**', 'protocol/gen/**', 'results/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'no-console': 'off',
    },
  },
  {
    // Imports go one way down the layers: protocol/ and supervisor/, the core contract,
    // shards/, node/, ops/, benchmarks/ (ops/lint/layers.js, docs/ARCHITECTURE.md).
    files: ['**/*.ts', '**/*.js'],
    plugins: { switchboard: layersPlugin },
    rules: { 'switchboard/layers': 'error' },
  },
);
