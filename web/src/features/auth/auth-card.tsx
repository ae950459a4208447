import type { ReactNode } from 'react'

/** The frame of every account screen: a title, a short line, the form. */
export function AuthCard({ title, intro, children, footer }: { title: string; intro?: ReactNode; children: ReactNode; footer?: ReactNode }) {
  return (
    <section aria-labelledby="auth-title" className="mx-auto w-full max-w-sm">
      <div className="rounded-xl bg-white p-6 shadow-sm ring-1 ring-slate-200 dark:bg-slate-900 dark:ring-slate-800">
        <h1 id="auth-title" className="text-xl font-semibold tracking-tight">
          {title}
        </h1>
        {intro ? <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">{intro}</p> : null}
        <div className="mt-5">{children}</div>
      </div>
      {footer ? <div className="mt-4 space-y-1 text-center text-sm text-slate-600 dark:text-slate-400">{footer}</div> : null}
    </section>
  )
}
