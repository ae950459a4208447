// Renders the app icons (public/icon*.png) from the SVGs beside them with
// Debian's Chromium. Run by hand after changing an SVG:
//   node scripts/make-icons.mjs
import { readFileSync } from 'node:fs'

import { chromium } from '@playwright/test'

const icons = [
  ['public/icon.svg', 'public/icon-192.png', 192],
  ['public/icon.svg', 'public/icon-512.png', 512],
  ['public/icon-maskable.svg', 'public/icon-maskable-512.png', 512],
]

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] })
const page = await browser.newPage()
for (const [svg, png, size] of icons) {
  await page.setViewportSize({ width: size, height: size })
  const data = Buffer.from(readFileSync(svg)).toString('base64')
  await page.setContent(`<style>*{margin:0}</style><img src="data:image/svg+xml;base64,${data}" width="${size}" height="${size}">`)
  await page.screenshot({ path: png, omitBackground: true })
}
await browser.close()
