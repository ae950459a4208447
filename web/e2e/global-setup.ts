import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer()
    server.unref()
    server.on('error', fail)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => (port ? ok(port) : fail(new Error('no free port'))))
    })
  })
}

async function waitHealthy(url: string, child: ChildProcess, output: () => string, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the tasksync server exited with ${child.exitCode} before it was healthy:\n${output()}`)
    try {
      const response = await fetch(url)
      if (response.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`the tasksync server did not answer ${url} within ${ms / 1000} s:\n${output()}`)
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  const bin = resolve(webDir, process.env.TASKSYNC_BIN ?? '../target/debug/tasksync')
  if (!existsSync(bin)) {
    throw new Error(`tasksync server binary not found at ${bin}: run \`cargo build -p tasksync-server\` in the repository root, or set TASKSYNC_BIN.`)
  }
  const index = join(webDir, 'dist', 'index.html')
  if (!existsSync(index)) {
    throw new Error(`${index} is missing: run \`node_modules/.bin/vite build\` in web/ first (the debug server serves web/dist from disk).`)
  }

  const dir = mkdtempSync(join(tmpdir(), 'tasksync-e2e-'))
  const port = await freePort()
  const baseURL = `http://127.0.0.1:${port}`
  let log = ''
  const child = spawn(bin, ['serve', '--dev', '--listen', `127.0.0.1:${port}`], {
    cwd: dir,
    env: {
      ...process.env,
      TASKSYNC_DATABASE_URL: `sqlite://${join(dir, 't.db')}`,
      TASKSYNC_AUTH_RATE_PER_MINUTE: '100000',
      TASKSYNC_AUTH_RATE_BURST: '100000',
      // No load balancer to wait for: stop at once at teardown.
      TASKSYNC_DRAIN_DELAY: '0s',
      TASKSYNC_DRAIN_SOCKET_WINDOW: '100ms',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-20_000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)

  const teardown = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    }
    rmSync(dir, { recursive: true, force: true })
  }

  try {
    await waitHealthy(`${baseURL}/healthz`, child, () => log, 30_000)
    const page = await (await fetch(`${baseURL}/sign-in`)).text()
    if (page.includes('built without its web app')) {
      throw new Error(
        `${bin} does not serve ${join(webDir, 'dist')}: a debug build reads web/dist from disk only if the folder existed when ` +
          'the server crate was compiled (rust-embed fixes the folder path then). Rebuild it: ' +
          '`touch crates/server/src/http/web.rs && cargo build -p tasksync-server`.',
      )
    }
  } catch (error) {
    await teardown()
    throw error
  }
  process.env.E2E_BASE_URL = baseURL
  return teardown
}
