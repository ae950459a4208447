import { Button } from '../../components/ui/button'
import type { HeldDelete } from '../sync/engine'

/** "Deleted …  Undo" for each delete still inside its undo window (held, not yet sent). */
export function UndoToasts({ waiting, onUndo }: { waiting: readonly HeldDelete[]; onUndo: (id: string) => void }) {
  return (
    <div aria-live="polite" className="pointer-events-none fixed inset-x-0 bottom-4 z-10 flex flex-col items-center gap-2 px-4">
      {waiting.slice(-3).map(({ task }) => (
        <div
          key={task.id}
          className="pointer-events-auto flex w-full max-w-md items-center justify-between gap-3 rounded-lg bg-slate-900 px-4 py-3 text-sm text-white shadow-lg dark:bg-slate-100 dark:text-slate-900"
        >
          <p className="min-w-0 truncate">Deleted "{task.title}".</p>
          <Button
            size="sm"
            variant="ghost"
            onClick={() => onUndo(task.id)}
            aria-label={`Undo delete of "${task.title}"`}
            className="shrink-0 text-indigo-300 hover:bg-slate-800 dark:text-indigo-700 dark:hover:bg-slate-200"
          >
            Undo
          </Button>
        </div>
      ))}
    </div>
  )
}
