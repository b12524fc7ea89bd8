import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    // expect.poll waits for something to arrive, not for it to be fast: generous on a busy machine
    expect: { poll: { timeout: 15_000, interval: 50 } },
    hookTimeout: 120_000,
    fileParallelism: true,
    maxWorkers: 2,
  },
})
