// Measurements for issue #11, printed, not asserted: how long queued changes
// take to reach the server after the network returns, and how long a change
// takes to show in another browser. Times are taken with the same system
// clock in the test and in the pages.

import { expect, test, type Page } from '@playwright/test'

import { addTask, networkSwitch, secondDevice, signUpAndSignIn, syncStatus, uniqueEmail } from './helpers'

const RUNS = 20

function summary(name: string, ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b)
  const median = (sorted[(RUNS - 1) >> 1] + sorted[RUNS >> 1]) / 2
  return `${name}: median ${median} ms, min ${sorted[0]} ms, max ${sorted[sorted.length - 1]} ms (${RUNS} runs)`
}

/**
 * Starts watching, in the page, for `text` to be on the page (present) or
 * gone (absent); the function returned resolves with the time it was seen.
 */
async function watchText(page: Page, text: string, present: boolean): Promise<() => Promise<number>> {
  await page.evaluate(
    ({ text, present }) => {
      const w = window as unknown as { seen?: Promise<number> }
      w.seen = new Promise<number>((resolve) => {
        const check = () => {
          if (document.body.innerText.includes(text) !== present) return
          observer.disconnect()
          resolve(Date.now())
        }
        const observer = new MutationObserver(check)
        observer.observe(document.body, { subtree: true, childList: true, characterData: true })
        check()
      })
    },
    { text, present },
  )
  return () => page.evaluate(() => (window as unknown as { seen: Promise<number> }).seen)
}

test('measure: network back to outbox empty, and a change in one browser to the other', async ({ browser, context, page }) => {
  test.setTimeout(180_000)
  const net = await networkSwitch(context)
  const email = uniqueEmail('measure')
  await signUpAndSignIn(page, email)

  const backOnline: number[] = []
  for (let i = 0; i < RUNS; i++) {
    await net.offline()
    await expect(syncStatus(page)).toHaveText('Offline')
    await addTask(page, `Offline ${i}`)
    await expect(page.getByText('Not yet synced')).toBeVisible()
    const sent = await watchText(page, 'Not yet synced', false)
    const start = Date.now()
    await net.online()
    backOnline.push((await sent()) - start)
    await expect(syncStatus(page)).toHaveText('Live')
  }

  const b = await secondDevice(browser, email)
  const across: number[] = []
  const input = page.getByRole('textbox', { name: 'New task title' })
  for (let i = 0; i < RUNS; i++) {
    const title = `Across ${i}`
    const shown = await watchText(b.page, title, true)
    await input.fill(title)
    const start = await input.evaluate((el) => {
      const at = Date.now()
      ;(el as HTMLInputElement).form?.requestSubmit()
      return at
    })
    across.push((await shown()) - start)
  }
  await b.context.close()

  console.log(summary('network back -> outbox empty', backOnline))
  console.log(summary('change in one context -> shown in the other', across))
})
