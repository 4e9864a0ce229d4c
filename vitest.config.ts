import { defineConfig } from 'vitest/config';

// Two tiers by file name (DESIGN.md section 5): *.test.ts needs no server,
// *.int.test.ts talks to real PostgreSQL and Redis. Integration files run one
// at a time because several kill child processes and measure redelivery.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts', 'test/**/*.e2e.test.ts', 'node_modules/**'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
