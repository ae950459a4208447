// Issue #11, item 7: a session revoked elsewhere ("sign out everywhere", a
// password reset) ends in every open tab at once and says so; edits not yet
// sent stay on the device for that user's next sign-in.

import { expect, test, type APIRequestContext } from '@playwright/test'

import { apiToken, serverTasks } from './api'
import { addTask, networkSwitch, PASSWORD, signIn, signUpAndSignIn, syncStatus, taskItem, uniqueEmail } from './helpers'

/** "Sign out everywhere" from another device, through the API. */
async function signOutEverywhere(request: APIRequestContext, email: string): Promise<void> {
  const signedIn = await request.post('/auth/sign-in', { data: { email, password: PASSWORD } })
  const { refreshToken } = (await signedIn.json()) as { refreshToken: string }
  const out = await request.post('/auth/sign-out', { data: { refreshToken, global: true } })
  expect(out.ok(), await out.text()).toBe(true)
}

const ENDED = 'Your session has ended. Please sign in again.'

test('signing out everywhere ends the session of an open, live tab at once and says so', async ({ page, request }) => {
  const email = uniqueEmail('revoked-live')
  await signUpAndSignIn(page, email)
  await signOutEverywhere(request, email)
  await expect(page).toHaveURL(/\/sign-in/)
  await expect(page.getByText(ENDED)).toBeVisible()
})

test('a tab that comes back online after its session was revoked signs out, and keeps its offline edit for the next sign-in', async ({ context, page, request }) => {
  const net = await networkSwitch(context)
  const email = uniqueEmail('revoked-offline')
  await signUpAndSignIn(page, email)

  await net.offline()
  await expect(syncStatus(page)).toHaveText('Offline')
  await addTask(page, 'Written before the revocation')
  await signOutEverywhere(request, email)
  await net.online()

  await expect(page).toHaveURL(/\/sign-in/)
  await expect(page.getByText(ENDED)).toBeVisible()
  const token = await apiToken(request, email)
  expect(await serverTasks(request, token)).toEqual([])

  await signIn(page, email)
  await expect(taskItem(page, 'Written before the revocation')).toBeVisible()
  await expect(page.getByText('Not yet synced')).toHaveCount(0)
  expect((await serverTasks(request, token)).map((t) => t.title)).toEqual(['Written before the revocation'])
})
