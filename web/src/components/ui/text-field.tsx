import { useId, type InputHTMLAttributes, type Ref } from 'react'

import { cn } from './cn'
import { focusRing } from './focus'

export interface TextFieldProps extends Omit<InputHTMLAttributes<HTMLInputElement>, 'id'> {
  label: string
  /** Help shown under the field. */
  hint?: string
  /** An error about this field, shown under it and announced with it. */
  error?: string | null
  ref?: Ref<HTMLInputElement>
}

export const inputClass = `block w-full rounded-md border-0 bg-white px-3 py-2 text-slate-900 ring-1 ring-inset ring-slate-300 placeholder:text-slate-400 dark:bg-slate-900 dark:text-slate-100 dark:ring-slate-700 ${focusRing}`

/** A labelled input; the label is always visible. */
export function TextField({ label, hint, error, className = '', ref, ...rest }: TextFieldProps) {
  const id = useId()
  const hintId = `${id}-hint`
  const errorId = `${id}-error`
  const describedBy = [hint ? hintId : null, error ? errorId : null].filter(Boolean).join(' ')
  return (
    <div className={className}>
      <label htmlFor={id} className="mb-1 block text-sm font-medium text-slate-700 dark:text-slate-300">
        {label}
      </label>
      <input
        id={id}
        ref={ref}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy || undefined}
        className={cn(inputClass, error && 'ring-rose-500 dark:ring-rose-500')}
        {...rest}
      />
      {hint ? (
        <p id={hintId} className="mt-1 text-xs text-slate-500 dark:text-slate-400">
          {hint}
        </p>
      ) : null}
      {error ? (
        <p id={errorId} className="mt-1 text-sm text-rose-600 dark:text-rose-400">
          {error}
        </p>
      ) : null}
    </div>
  )
}
