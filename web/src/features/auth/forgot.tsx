import { useState, type FormEvent } from 'react'

import { Button } from '../../components/ui/button'
import { Link } from '../../components/ui/link'
import { TextField } from '../../components/ui/text-field'
import { href, navigate, usePath } from '../../lib/router'
import { AuthCard } from './auth-card'
import { FormError } from './form-error'
import { useSession } from './session'
import { useFormAction } from './use-form-action'

export function Forgot() {
  const { query } = usePath()
  const { client } = useSession()
  const [email, setEmail] = useState(query.email ?? '')
  const { busy, error, run } = useFormAction()

  const submit = (event: FormEvent) => {
    event.preventDefault()
    void run(async () => {
      const address = email.trim()
      await client.forgotPassword(address)
      navigate(href('/reset', { email: address }))
    })
  }

  return (
    <AuthCard
      title="Forgot your password?"
      intro="Enter your e-mail address and we will send you a code to choose a new one."
      footer={
        <p>
          <Link to={href('/sign-in', { email: email.trim() })}>Back to sign in</Link>
        </p>
      }
    >
      <form onSubmit={submit} className="space-y-4">
        <FormError error={error} />
        <TextField label="E-mail" autoFocus type="email" name="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <Button type="submit" busy={busy} className="w-full">
          {busy ? 'Sending…' : 'Send code'}
        </Button>
      </form>
    </AuthCard>
  )
}
