import { Button } from '../../components/ui/button'

export interface UndoToast {
  key: string
  /** What was done: "Deleted", "Completed". */
  verb: string
  title: string
  /** The Undo button's accessible name, e.g. `Undo delete of "Title"`. */
  undoLabel: string
  onUndo: () => void
}

/** "Deleted …  Undo" / "Completed …  Undo", the newest three, announced politely. */
export function UndoToasts({ toasts }: { toasts: readonly UndoToast[] }) {
  return (
    <div aria-live="polite" className="pointer-events-none fixed inset-x-0 bottom-4 z-10 flex flex-col items-center gap-2 px-4">
      {toasts.slice(-3).map((toast) => (
        <div
          key={toast.key}
          className="pointer-events-auto flex w-full max-w-md items-center justify-between gap-3 rounded-lg bg-slate-900 px-4 py-3 text-sm text-white shadow-lg dark:bg-slate-100 dark:text-slate-900"
        >
          <p className="min-w-0 truncate">
            {toast.verb} "<bdi>{toast.title}</bdi>".
          </p>
          <Button
            size="sm"
            variant="ghost"
            onClick={toast.onUndo}
            aria-label={toast.undoLabel}
            className="shrink-0 text-indigo-300 hover:bg-slate-800 dark:text-indigo-700 dark:hover:bg-slate-200"
          >
            Undo
          </Button>
        </div>
      ))}
    </div>
  )
}
