import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = fileURLToPath(new URL('./src/', import.meta.url));

// Three tiers by file name (DESIGN.md section 5): *.test.ts needs no server,
// *.int.test.ts talks to real PostgreSQL and brokers, *.e2e.test.ts runs the whole
// platform. Integration and e2e files run one at a time because several kill child
// processes and measure redelivery.
export default defineConfig({
  // `datasync/<part>` in examples and docs resolves to the sources, as it does to dist/ for users.
  resolve: {
    alias: [
      { find: /^datasync$/, replacement: `${src}index.ts` },
      { find: /^datasync\/(.*)$/, replacement: `${src}$1/index.ts` },
    ],
  },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts', 'test/**/*.e2e.test.ts', 'node_modules/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          // Starts the embedded PostgreSQL when no server answers (DATASYNC_TEST_POSTGRES).
          globalSetup: ['test/support/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/**/*.e2e.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
