import { twMerge, type ClassNameValue } from 'tailwind-merge'

/**
 * Joins class lists so that a later class wins over an earlier one of the
 * same property (`text-slate-700` then `text-indigo-300`: indigo). Plain
 * concatenation leaves both, and the stylesheet's order decides.
 */
export function cn(...classes: ClassNameValue[]): string {
  return twMerge(...classes)
}
