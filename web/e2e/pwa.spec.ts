// Issue #11 item 9: the app opens offline (a service worker precaches the
// built files) and can be installed (a web manifest).

import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { brotliCompressSync, gzipSync } from 'node:zlib'

import { expect, test, type BrowserContext, type Page } from '@playwright/test'

import { addTask, signUpAndSignIn, syncStatus, taskItem, uniqueEmail } from './helpers'

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist')

/** Waits until a service worker controls `page` (its precache is complete by then). */
async function controlled(page: Page): Promise<void> {
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready
    if (!navigator.serviceWorker.controller) {
      await new Promise((r) => navigator.serviceWorker.addEventListener('controllerchange', r, { once: true }))
    }
  })
}

/** Cuts the context off: the browser's offline mode, and every request that still reaches the network aborted. */
async function unplug(context: BrowserContext): Promise<void> {
  await context.setOffline(true)
  await context.route('**/*', (route) => route.abort('internetdisconnected'))
}

test('a reload or a new tab while offline opens the app from the cache with the stored tasks', async ({ context, page }) => {
  const email = uniqueEmail('pwa')
  await signUpAndSignIn(page, email)
  await addTask(page, 'Readable offline')
  await expect(page.getByText('Not yet synced')).toHaveCount(0)
  await controlled(page)

  await unplug(context)
  const reloaded = await page.reload()
  expect(reloaded?.fromServiceWorker(), 'the page came from the service worker').toBe(true)
  await expect(page.getByRole('heading', { name: 'Tasks' })).toBeVisible()
  await expect(taskItem(page, 'Readable offline')).toBeVisible()
  await expect(syncStatus(page)).toHaveText('Offline')

  const tab = await context.newPage()
  await tab.goto('/')
  await expect(tab).toHaveURL(/\/tasks$/)
  await expect(taskItem(tab, 'Readable offline')).toBeVisible()

  // Offline, the API paths are not answered with the app (nor from any cache).
  for (const path of ['/graphql', '/auth/me', '/dev/mailbox', '/metrics']) {
    await expect(tab.goto(path), path).rejects.toThrow(/ERR_INTERNET_DISCONNECTED|ERR_FAILED/)
  }
  const cached = await page.evaluate(async () => {
    const urls: string[] = []
    for (const name of await caches.keys()) {
      for (const request of await (await caches.open(name)).keys()) urls.push(new URL(request.url).pathname)
    }
    return urls
  })
  expect(cached).toContain('/index.html')
  expect(cached.filter((p) => /^\/(graphql|auth\/|dev\/|metrics|healthz|readyz|\.well-known\/)/.test(p))).toEqual([])
})

test('a new deploy is picked up: its service worker takes over and the open page reloads into it', async ({ page }) => {
  await page.goto('/sign-in')
  await controlled(page)
  await page.evaluate(() => {
    ;(window as unknown as { beforeDeploy: boolean }).beforeDeploy = true
  })

  // The next deploy: the server (a debug build reads web/dist from disk)
  // now has a service worker whose bytes differ.
  const sw = join(dist, 'sw.js')
  const before = readFileSync(sw)
  const compressed = [`${sw}.br`, `${sw}.gz`].filter((path) => existsSync(path)).map((path) => [path, readFileSync(path)] as const)
  try {
    const next = Buffer.concat([before, Buffer.from('\n// next deploy\n')])
    writeFileSync(sw, next)
    for (const [path] of compressed) writeFileSync(path, path.endsWith('.br') ? brotliCompressSync(next) : gzipSync(next))
    expect(await (await page.request.get('/sw.js')).text(), 'the server serves web/dist from disk (a debug build)').toContain('// next deploy')
    const reloaded = page.waitForEvent('load')
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.update())
    await reloaded
  } finally {
    writeFileSync(sw, before)
    for (const [path, bytes] of compressed) writeFileSync(path, bytes)
  }
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible()
  expect(await page.evaluate(() => (window as unknown as { beforeDeploy?: boolean }).beforeDeploy), 'the page was reloaded').toBeUndefined()
})

test('the app can be installed: a manifest with name, icons, theme colour and standalone display', async ({ context, page }) => {
  await page.goto('/sign-in')
  await controlled(page)
  const manifest = await (await page.request.get('/manifest.webmanifest')).json()
  expect(manifest).toMatchObject({ name: 'tasksync', display: 'standalone', theme_color: '#4f46e5', start_url: '/tasks' })
  for (const icon of manifest.icons as { src: string; type: string }[]) {
    const response = await page.request.get(icon.src)
    expect(response.status(), icon.src).toBe(200)
    expect(response.headers()['content-type'], icon.src).toBe(icon.type)
  }
  const cdp = await context.newCDPSession(page)
  const { errors } = await cdp.send('Page.getAppManifest')
  expect(errors).toEqual([])
  // Test contexts are incognito-like, which alone keeps Chromium from offering to install.
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors')
  expect(installabilityErrors.filter((e) => e.errorId !== 'in-incognito')).toEqual([])
})

test('the built files are served precompressed to a browser that accepts it', async ({ page }) => {
  const scripts: string[] = []
  page.on('response', (response) => {
    if (/\/assets\/index-[\w-]+\.js$/.test(response.url())) scripts.push(response.headers()['content-encoding'] ?? '')
  })
  await page.goto('/sign-in')
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible()
  expect(scripts[0], 'the app script from the server').toBe('br')
  const css = await page.evaluate(() => document.querySelector<HTMLLinkElement>('link[rel=stylesheet]')?.href ?? '')
  const gz = await page.request.get(css, { headers: { 'accept-encoding': 'gzip' } })
  expect(gz.headers()['content-encoding']).toBe('gzip')
  expect(gz.headers()['vary']).toMatch(/accept-encoding/i)
  expect(await gz.text()).toContain('--tw-')
})
