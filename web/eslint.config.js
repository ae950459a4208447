// ESLint for the web app (`make lint` runs it with --max-warnings 0).
//
// Besides the usual TypeScript and hooks rules it keeps the layout's one
// direction (STYLE.md; bulletproof-react's docs/project-structure.md):
// shared code (src/components, src/lib) → features → src/app, and no feature
// imports another; what two features share lives in shared code, and the
// features are put together in src/app.
//
// typescript-eslint is not type-aware here (no type information), which
// keeps a full run to seconds; `tsc --noEmit` checks the types.
import js from '@eslint/js'
import { importX } from 'eslint-plugin-import-x'
import reactHooks from 'eslint-plugin-react-hooks'
import globals from 'globals'
import tseslint from 'typescript-eslint'

const features = ['auth', 'sync', 'tasks']
const shared = ['./src/components', './src/lib']

export default tseslint.config(
  { ignores: ['dist/', 'dev-dist/', 'node_modules/', 'e2e/screenshots/', 'test-results/', 'playwright-report/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      // `const { a: _, ...rest } = o` drops a field; `_x` marks an unused binding.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ['src/**/*.{ts,tsx}'],
    languageOptions: { globals: globals.browser },
    plugins: { 'react-hooks': reactHooks, 'import-x': importX },
    settings: {
      'import-x/resolver-next': [importX.createNodeResolver({ extensions: ['.ts', '.tsx', '.js'] })],
    },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'error',
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            // A feature imports no other feature: src/app composes them.
            ...features.map((feature) => ({
              target: `./src/features/${feature}`,
              from: './src/features',
              except: [`./${feature}`],
              message: 'features do not import each other: move the shared piece to src/lib or src/components, or compose in src/app',
            })),
            // Nothing below src/app imports it.
            {
              target: ['./src/features', ...shared],
              from: './src/app',
              message: 'only src/main.tsx imports src/app',
            },
            // Shared code imports no feature.
            {
              target: shared,
              from: './src/features',
              message: 'shared code (src/components, src/lib) does not import features',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['e2e/**/*.ts', '*.config.ts', 'scripts/**/*.mjs', 'eslint.config.js'],
    languageOptions: { globals: globals.node },
  },
)
