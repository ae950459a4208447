// axe-core on every screen, in light and dark, at desktop and phone size:
// no serious or critical violations (issue #11, "Also fix").

import { createRequire } from 'node:module'

import { expect, test, type Page } from '@playwright/test'
import type { AxeResults, Result } from 'axe-core'

import { addTask, signUpAndSignIn, taskItem, uniqueEmail } from './helpers'

const axeSource = createRequire(import.meta.url).resolve('axe-core/axe.min.js')

/** One line per failing node, so a report says what and where. */
function describe(violations: Result[]): string[] {
  return violations.flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${n.target.join(' ')} — ${n.failureSummary?.split('\n').slice(1).join(' ')}`))
}

/** Runs axe-core on the page as it is; fails on serious or critical violations. */
export async function expectAccessible(page: Page, screen: string): Promise<void> {
  await page.addScriptTag({ path: axeSource })
  const results = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document, options: object): Promise<AxeResults> } }).axe
    // target-size (WCAG 2.2, 24×24 px) is off by default in axe: turn it on.
    return axe.run(document, { resultTypes: ['violations'], rules: { 'target-size': { enabled: true } } })
  })
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  expect.soft(describe(bad), `axe on ${screen}`).toEqual([])
}

const modes = [
  { name: 'light, desktop', colorScheme: 'light', viewport: { width: 1280, height: 800 } },
  { name: 'dark, desktop', colorScheme: 'dark', viewport: { width: 1280, height: 800 } },
  { name: 'light, 390×844', colorScheme: 'light', viewport: { width: 390, height: 844 } },
  { name: 'dark, 390×844', colorScheme: 'dark', viewport: { width: 390, height: 844 } },
] as const

for (const mode of modes) {
  test.describe(mode.name, () => {
    test.use({ colorScheme: mode.colorScheme, viewport: mode.viewport })

    test(`every screen passes axe (${mode.name})`, async ({ page }) => {
      const email = uniqueEmail('axe')
      const query = `?email=${encodeURIComponent(email)}`
      for (const [path, heading] of [
        ['/sign-in', 'Sign in'],
        ['/sign-up', 'Create an account'],
        [`/confirm${query}`, 'Confirm your e-mail'],
        [`/forgot${query}`, 'Forgot your password?'],
        [`/reset${query}`, 'Choose a new password'],
      ] as const) {
        await page.goto(path)
        await expect(page.getByRole('heading', { name: heading, level: 1 })).toBeVisible()
        await expectAccessible(page, path)
      }

      await signUpAndSignIn(page, email)
      await expect(page.getByText('No tasks yet. Add one above.')).toBeVisible()
      await expectAccessible(page, 'tasks (empty)')

      for (const title of ['Buy oat milk', 'Water the plants', 'Book the dentist', 'Throw this one away']) await addTask(page, title)
      await taskItem(page, 'Water the plants').check()
      await expect(taskItem(page, 'Water the plants')).toBeChecked()
      await expect(page.getByText('Not yet synced')).toHaveCount(0)
      await expectAccessible(page, 'tasks (with a completed one)')

      await page.getByRole('button', { name: 'Delete "Throw this one away"' }).click()
      const undo = page.getByRole('button', { name: 'Undo delete of "Throw this one away"' })
      await expect(undo).toBeVisible()
      await expectAccessible(page, 'tasks (an undo toast showing)')
      // The toast was there for the whole check.
      await expect(undo).toBeVisible()

      await page.goto('/tasks?filter=done')
      await expect(taskItem(page, 'Water the plants')).toBeVisible()
      await expectAccessible(page, 'tasks (done filter)')

      await page.getByRole('link', { name: 'Account' }).click()
      await expect(page.getByRole('heading', { name: 'Account', level: 1 })).toBeVisible()
      await expectAccessible(page, 'account')

      await page.goto('/mailbox')
      await expect(page.getByRole('listitem').filter({ hasText: `To: ${email}` }).first()).toBeVisible()
      await expectAccessible(page, 'dev mailbox')
    })
  })
}
