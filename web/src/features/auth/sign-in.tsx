import { useState, type FormEvent } from 'react'

import { Alert } from '../../components/ui/alert'
import { Button } from '../../components/ui/button'
import { Link } from '../../components/ui/link'
import { TextField } from '../../components/ui/text-field'
import { href, navigate, usePath } from '../../lib/router'
import { AuthCard } from './auth-card'
import { FormError } from './form-error'
import { useSession } from './session'
import { useFormAction } from './use-form-action'

export function SignIn() {
  const { query } = usePath()
  const { signIn, notice } = useSession()
  const [email, setEmail] = useState(query.email ?? '')
  // Focus starts in the first field still to fill.
  const [prefilled] = useState(() => Boolean(query.email))
  const [password, setPassword] = useState('')
  const { busy, error, run } = useFormAction()

  const submit = (event: FormEvent) => {
    event.preventDefault()
    void run(async () => {
      await signIn(email.trim(), password)
      navigate('/tasks', { replace: true })
    })
  }

  return (
    <AuthCard
      title="Sign in"
      intro="Welcome back to tasksync."
      footer={
        <p>
          New here? <Link to={href('/sign-up', { email })}>Create an account</Link>
        </p>
      }
    >
      <form onSubmit={submit} className="space-y-4">
        {notice && !error ? <Alert tone="info">{notice}</Alert> : null}
        {query.confirmed && !error ? <Alert tone="success">Your account is confirmed. Sign in to start.</Alert> : null}
        {query.reset && !error ? <Alert tone="success">Your password was changed. Sign in with the new one.</Alert> : null}
        <FormError error={error} email={email.trim()} />
        <TextField label="E-mail" autoFocus={!prefilled} type="email" name="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <TextField
          label="Password"
          autoFocus={prefilled}
          type="password"
          name="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <div className="flex items-center justify-between gap-3">
          <Link to={href('/forgot', { email: email.trim() })} className="text-sm">
            Forgot password?
          </Link>
          <Button type="submit" busy={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </Button>
        </div>
      </form>
    </AuthCard>
  )
}
