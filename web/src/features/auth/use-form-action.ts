import { useCallback, useState } from 'react'

/** Runs a form's async action: busy while it runs, the thrown error kept for display. */
export function useFormAction() {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const run = useCallback(async (action: () => Promise<void>) => {
    setBusy(true)
    setError(null)
    try {
      await action()
    } catch (e) {
      setError(e)
    } finally {
      setBusy(false)
    }
  }, [])
  return { busy, error, setError, run }
}
