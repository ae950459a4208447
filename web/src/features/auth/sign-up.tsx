import { useState, type FormEvent } from 'react'

import { Button } from '../../components/ui/button'
import { Link } from '../../components/ui/link'
import { TextField } from '../../components/ui/text-field'
import { href, navigate, usePath } from '../../lib/router'
import { AuthCard } from './auth-card'
import { FormError } from './form-error'
import { useSession } from './session'
import { useFormAction } from './use-form-action'

export function SignUp() {
  const { query } = usePath()
  const { client } = useSession()
  const [email, setEmail] = useState(query.email ?? '')
  // Focus starts in the first field still to fill.
  const [prefilled] = useState(() => Boolean(query.email))
  const [password, setPassword] = useState('')
  const { busy, error, run } = useFormAction()

  const submit = (event: FormEvent) => {
    event.preventDefault()
    void run(async () => {
      const address = email.trim()
      await client.signUp(address, password)
      navigate(href('/confirm', { email: address }))
    })
  }

  return (
    <AuthCard
      title="Create an account"
      intro="We will e-mail you a 6-digit code to confirm the address."
      footer={
        <p>
          Already have an account? <Link to={href('/sign-in', { email: email.trim() })}>Sign in</Link>
        </p>
      }
    >
      <form onSubmit={submit} className="space-y-4">
        <FormError error={error} email={email.trim()} />
        <TextField label="E-mail" autoFocus={!prefilled} type="email" name="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <TextField
          label="Password"
          autoFocus={prefilled}
          type="password"
          name="new-password"
          autoComplete="new-password"
          required
          minLength={8}
          maxLength={256}
          hint="8 to 256 characters. Common or easily guessed passwords are refused; a few random words work well."
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <Button type="submit" busy={busy} className="w-full">
          {busy ? 'Creating account…' : 'Create account'}
        </Button>
      </form>
    </AuthCard>
  )
}
