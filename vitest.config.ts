import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts', 'test/support/web-setup.ts'],
    // The whole suite runs far from UTC (UTC+14), so a date that drifts by a
    // time zone shows up as a wrong calendar day.
    env: { TZ: 'Pacific/Kiritimati' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
