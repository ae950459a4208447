import type { ReactNode } from 'react'

import { cn } from './cn'

type Tone = 'error' | 'info' | 'success' | 'warning'

const tones: Record<Tone, string> = {
  error: 'border-rose-200 bg-rose-50 text-rose-800 dark:border-rose-900 dark:bg-rose-950 dark:text-rose-200',
  info: 'border-indigo-200 bg-indigo-50 text-indigo-900 dark:border-indigo-900 dark:bg-indigo-950 dark:text-indigo-100',
  success: 'border-emerald-200 bg-emerald-50 text-emerald-900 dark:border-emerald-900 dark:bg-emerald-950 dark:text-emerald-100',
  warning: 'border-amber-200 bg-amber-50 text-amber-900 dark:border-amber-900 dark:bg-amber-950 dark:text-amber-100',
}

export interface AlertProps {
  tone?: Tone
  children: ReactNode
  className?: string
}

/**
 * An inline message. Errors and warnings are announced at once
 * (role="alert"); the others politely (role="status").
 */
export function Alert({ tone = 'info', children, className = '' }: AlertProps) {
  const role = tone === 'error' || tone === 'warning' ? 'alert' : 'status'
  return (
    <div role={role} className={cn('rounded-md border px-3 py-2 text-sm', tones[tone], className)}>
      {children}
    </div>
  )
}
