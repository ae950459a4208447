import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { defineConfig } from '@playwright/test'

// Browser end-to-end tests: a real tasksync server (started by the global
// setup, on a free port with a fresh database) serving the built app from
// web/dist, driven through Debian's Chromium. Never downloads a browser.
export default defineConfig({
  testDir: 'e2e',
  globalSetup: './e2e/global-setup.ts',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  reporter: 'list',
  // Failure artefacts (error-context.md) go outside the repository.
  outputDir: join(tmpdir(), 'tasksync-e2e-results'),
  use: {
    // Set by the global setup, which runs before the test workers start.
    baseURL: process.env.E2E_BASE_URL,
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
    screenshot: 'off',
    trace: 'off',
  },
})
