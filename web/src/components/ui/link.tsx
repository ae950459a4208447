import type { AnchorHTMLAttributes, MouseEvent } from 'react'

import { navigate } from '../../lib/router'
import { cn } from './cn'
import { focusRing } from './focus'

export interface LinkProps extends Omit<AnchorHTMLAttributes<HTMLAnchorElement>, 'href'> {
  to: string
}

/** An in-app link: a real <a href> (so it opens in a new tab too) that navigates without reloading. */
export function Link({ to, className = '', onClick, children, ...rest }: LinkProps) {
  const go = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event)
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
    event.preventDefault()
    navigate(to)
  }
  return (
    <a
      href={to}
      onClick={go}
      className={cn('rounded-sm font-medium text-indigo-600 underline-offset-2 hover:underline dark:text-indigo-400', focusRing, className)}
      {...rest}
    >
      {children}
    </a>
  )
}
