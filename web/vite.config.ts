import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'

import tailwindcss from '@tailwindcss/vite'
import react from '@vitejs/plugin-react'
import { defineConfig, type Plugin } from 'vite'
import { VitePWA } from 'vite-plugin-pwa'

// `npm run dev` serves the app with hot reload and sends the API to a
// running tasksync server (TASKSYNC_URL, default http://127.0.0.1:8080).
const api = process.env.TASKSYNC_URL ?? 'http://127.0.0.1:8080'

/** Paths the server answers itself: never from the service worker's cache, never the app's index.html. */
const SERVER_PATHS = [/^\/graphql/, /^\/auth\//, /^\/dev\//, /^\/metrics/, /^\/healthz/, /^\/readyz/, /^\/\.well-known\//]

/**
 * Writes `.br` and `.gz` copies beside the built text files, so the server
 * sends them compressed without compressing per request (web.rs). Runs
 * after the service worker is generated, so sw.js is compressed too.
 */
function precompress(): Plugin {
  const worthIt = /\.(js|css|html|svg|webmanifest|json|txt)$/
  let outDir = 'dist'
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name)
      return statSync(path).isDirectory() ? walk(path) : [path]
    })
  return {
    name: 'tasksync:precompress',
    apply: 'build',
    configResolved(config) {
      outDir = config.build.outDir
    },
    closeBundle: {
      order: 'post',
      sequential: true,
      handler() {
        for (const path of walk(outDir)) {
          if (!worthIt.test(path)) continue
          const raw = readFileSync(path)
          if (raw.length < 1024) continue
          const br = brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length } })
          const gz = gzipSync(raw, { level: 9 })
          if (br.length < raw.length) writeFileSync(`${path}.br`, br)
          if (gz.length < raw.length) writeFileSync(`${path}.gz`, gz)
        }
      },
    },
  }
}

export default defineConfig({
  plugins: [
    react(),
    tailwindcss(),
    // The app opens offline: a service worker precaches the built files and
    // answers every page path with index.html; the replica is in IndexedDB.
    // A new deploy's worker takes over at once and the open pages reload
    // (registerSW in main.tsx), so no tab keeps an old app.
    VitePWA({
      registerType: 'autoUpdate',
      includeManifestIcons: false,
      injectRegister: false,
      manifest: {
        name: 'tasksync',
        short_name: 'tasksync',
        description: 'Your tasks, in sync on every device, online or offline.',
        start_url: '/tasks',
        scope: '/',
        display: 'standalone',
        theme_color: '#4f46e5',
        background_color: '#f8fafc',
        icons: [
          { src: '/icon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' },
          { src: '/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
          { src: '/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
          { src: '/icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      workbox: {
        globPatterns: ['**/*.{js,css,html,svg,png,webmanifest}'],
        globIgnores: ['**/*.br', '**/*.gz'],
        navigateFallback: '/index.html',
        navigateFallbackDenylist: SERVER_PATHS,
        // No runtime caching: the API is never cached, only the app's own files.
        runtimeCaching: [],
        cleanupOutdatedCaches: true,
        clientsClaim: true,
        skipWaiting: true,
      },
    }),
    precompress(),
  ],
  server: {
    proxy: {
      '/auth': api,
      '/dev/mailbox': api,
      '/graphql': { target: api, ws: true },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
  },
})
