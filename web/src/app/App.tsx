import { useEffect, type ReactNode } from 'react'

import { focusRing } from '../components/ui/focus'
import { Link } from '../components/ui/link'
import { navigate, usePath } from '../lib/router'
import { Account } from '../features/auth/account'
import { Confirm } from '../features/auth/confirm'
import { useDevMode } from '../features/auth/dev-mode'
import { Forgot } from '../features/auth/forgot'
import { Mailbox } from '../features/auth/mailbox'
import { Reset } from '../features/auth/reset'
import { useSession } from '../features/auth/session'
import { SessionProvider } from '../features/auth/session-provider'
import { SignIn } from '../features/auth/sign-in'
import { SignUp } from '../features/auth/sign-up'
import { SyncProvider } from './sync-provider'
import { TasksScreen } from '../features/tasks/tasks-screen'
import type { ScreenPath } from './routes'
import { resolveRoute } from './routes'

const SCREENS: Record<ScreenPath, { title: string; render: () => ReactNode }> = {
  '/sign-in': { title: 'Sign in', render: () => <SignIn /> },
  '/sign-up': { title: 'Create an account', render: () => <SignUp /> },
  '/confirm': { title: 'Confirm your e-mail', render: () => <Confirm /> },
  '/forgot': { title: 'Forgot password', render: () => <Forgot /> },
  '/reset': { title: 'New password', render: () => <Reset /> },
  '/tasks': { title: 'Tasks', render: () => <TasksScreen /> },
  '/account': { title: 'Account', render: () => <Account /> },
  '/mailbox': { title: 'Dev mailbox', render: () => <Mailbox /> },
}

export function App() {
  return (
    <SessionProvider>
      <SyncProvider>
        <Shell />
      </SyncProvider>
    </SessionProvider>
  )
}

function Shell() {
  const { path } = usePath()
  const { session } = useSession()
  const dev = useDevMode()
  const signedIn = session.status === 'signed-in'
  const resolved = resolveRoute(path, signedIn)
  const redirect = resolved.kind === 'redirect' ? resolved.to : null
  const screen = resolved.kind === 'screen' ? SCREENS[resolved.path] : null

  useEffect(() => {
    if (redirect) navigate(redirect, { replace: true })
  }, [redirect])

  useEffect(() => {
    document.title = screen ? `${screen.title} · tasksync` : 'tasksync'
  }, [screen])

  return (
    <div className="flex min-h-dvh flex-col">
      <a href="#main" className={`sr-only rounded-md bg-indigo-600 px-3 py-2 text-white focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 ${focusRing}`}>
        Skip to content
      </a>
      <header className="border-b border-slate-200 bg-white/80 backdrop-blur dark:border-slate-800 dark:bg-slate-900/80">
        <div className="mx-auto flex max-w-5xl flex-wrap items-center justify-between gap-x-4 gap-y-2 px-4 py-3">
          <Link to={signedIn ? '/tasks' : '/sign-in'} className="flex items-center gap-2 text-base text-slate-900 no-underline hover:no-underline dark:text-white">
            <span aria-hidden="true" className="grid size-6 place-items-center rounded-md bg-indigo-600 text-xs text-white">
              ✓
            </span>
            tasksync
          </Link>
          {signedIn ? (
            <nav aria-label="Main" className="flex items-center gap-1 text-sm">
              <NavLink to="/tasks" current={path}>
                Tasks
              </NavLink>
              <NavLink to="/account" current={path}>
                Account
              </NavLink>
            </nav>
          ) : null}
        </div>
      </header>
      <main id="main" className="flex-1 px-4 py-8">
        {screen ? screen.render() : null}
      </main>
      <footer className="px-4 pb-6 text-center text-xs text-slate-500 dark:text-slate-400">
        {signedIn && session.status === 'signed-in' ? <span>Signed in as {session.email}</span> : null}
        {signedIn && dev ? ' · ' : null}
        {/* Only a dev-mode server has a mailbox; underlined, as a link inside a line of text. */}
        {dev ? (
          <Link to="/mailbox" className="font-normal underline">
            Dev mailbox
          </Link>
        ) : null}
      </footer>
    </div>
  )
}

function NavLink({ to, current, children }: { to: string; current: string; children: ReactNode }) {
  const active = current === to
  return (
    <Link
      to={to}
      aria-current={active ? 'page' : undefined}
      className={`rounded-md px-3 py-1.5 no-underline hover:no-underline ${
        active ? 'bg-indigo-50 text-indigo-700 dark:bg-indigo-950 dark:text-indigo-200' : 'text-slate-600 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800'
      }`}
    >
      {children}
    </Link>
  )
}
