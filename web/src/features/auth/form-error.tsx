import { Alert } from '../../components/ui/alert'
import { Link } from '../../components/ui/link'
import { AuthError } from '../../lib/auth'
import { href } from '../../lib/router'
import { authErrorMessage } from './error-messages'

/** The inline error of an account form; an unconfirmed account gets a link to confirm it. */
export function FormError({ error, email }: { error: unknown; email?: string }) {
  if (error === null || error === undefined) return null
  const unconfirmed = error instanceof AuthError && error.code === 'UserNotConfirmed'
  return (
    <Alert tone="error">
      {authErrorMessage(error)}
      {unconfirmed ? (
        <>
          {' '}
          <Link to={href('/confirm', { email })}>Confirm your account</Link>
        </>
      ) : null}
    </Alert>
  )
}
