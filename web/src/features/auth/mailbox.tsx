import { useCallback, useEffect, useState } from 'react'

import { Alert } from '../../components/ui/alert'
import { Button } from '../../components/ui/button'
import { Link } from '../../components/ui/link'
import { href } from '../../lib/router'
import type { MailMessage } from './mailbox-messages'
import { codeScreen, extractCode, parseMailbox } from './mailbox-messages'

type State = { kind: 'loading' } | { kind: 'off' } | { kind: 'error'; message: string } | { kind: 'ready'; messages: MailMessage[] }

const POLL_MS = 3_000

/** The dev mailbox: mail the server would have sent, with each code shown large. */
export function Mailbox() {
  const [state, setState] = useState<State>({ kind: 'loading' })

  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      const response = await fetch('/dev/mailbox', { headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) })
      if (response.status === 404) return setState({ kind: 'off' })
      if (!response.ok) return setState({ kind: 'error', message: `The mailbox answered ${response.status}.` })
      setState({ kind: 'ready', messages: parseMailbox(await response.json()) })
    } catch (error) {
      if (signal?.aborted) return
      setState({ kind: 'error', message: error instanceof SyntaxError ? 'The mailbox did not answer with JSON.' : 'The server cannot be reached.' })
    }
  }, [])

  useEffect(() => {
    const controller = new AbortController()
    void load(controller.signal)
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void load(controller.signal)
    }, POLL_MS)
    return () => {
      controller.abort()
      clearInterval(timer)
    }
  }, [load])

  return (
    <div className="mx-auto w-full max-w-2xl space-y-4">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h1 className="text-2xl font-semibold tracking-tight">Dev mailbox</h1>
        <Button variant="secondary" size="sm" onClick={() => void load()}>
          Refresh
        </Button>
      </div>
      <p className="text-sm text-slate-600 dark:text-slate-400">Mail the server would have sent, newest first. Only in development mode.</p>
      {state.kind === 'loading' ? <p className="text-sm text-slate-500 dark:text-slate-400">Loading…</p> : null}
      {state.kind === 'off' ? <Alert tone="info">The dev mailbox is off: this server sends real e-mail. Check your inbox.</Alert> : null}
      {state.kind === 'error' ? <Alert tone="error">{state.message}</Alert> : null}
      {state.kind === 'ready' && state.messages.length === 0 ? (
        <p className="rounded-xl border border-dashed border-slate-300 p-6 text-center text-sm text-slate-500 dark:border-slate-700 dark:text-slate-400">No messages yet.</p>
      ) : null}
      {state.kind === 'ready' && state.messages.length > 0 ? (
        <ul className="space-y-3" aria-label="Messages">
          {state.messages.map((message, index) => {
            const code = extractCode(message.text)
            return (
              <li key={`${message.sentAt}-${index}`} className="rounded-xl bg-white p-4 shadow-sm ring-1 ring-slate-200 dark:bg-slate-900 dark:ring-slate-800">
                <div className="flex flex-wrap items-baseline justify-between gap-x-3 gap-y-1">
                  <h2 className="font-medium">{message.subject}</h2>
                  <time dateTime={message.sentAt} className="text-xs text-slate-500 dark:text-slate-400">
                    {formatTime(message.sentAt)}
                  </time>
                </div>
                <p className="text-sm text-slate-600 dark:text-slate-400">To: {message.to}</p>
                {code ? (
                  <div className="mt-3 flex flex-wrap items-center gap-3">
                    <span className="rounded-md bg-indigo-50 px-3 py-1 font-mono text-2xl font-semibold tracking-[0.3em] text-indigo-700 dark:bg-indigo-950 dark:text-indigo-200" aria-label={`Code ${code}`}>
                      {code}
                    </span>
                    <Link to={href(codeScreen(message.subject), { email: message.to })} className="text-sm">
                      Enter this code
                    </Link>
                  </div>
                ) : null}
                <pre className="mt-3 whitespace-pre-wrap break-words font-sans text-sm text-slate-700 dark:text-slate-300">{message.text}</pre>
              </li>
            )
          })}
        </ul>
      ) : null}
    </div>
  )
}

function formatTime(sentAt: string): string {
  const date = new Date(sentAt)
  return Number.isNaN(date.getTime()) ? sentAt : date.toLocaleString()
}
