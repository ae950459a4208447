import { useState, type FormEvent } from 'react'

import { Alert } from '../../components/ui/alert'
import { Button } from '../../components/ui/button'
import { Link } from '../../components/ui/link'
import { TextField } from '../../components/ui/text-field'
import { href, navigate, usePath } from '../../lib/router'
import { AuthCard } from './auth-card'
import { codeDigits } from './code'
import { useDevMode } from './dev-mode'
import { FormError } from './form-error'
import { useSession } from './session'
import { useFormAction } from './use-form-action'

export function Reset() {
  const { query } = usePath()
  const { client } = useSession()
  const dev = useDevMode()
  const [email, setEmail] = useState(query.email ?? '')
  // Focus starts in the first field still to fill.
  const [prefilled] = useState(() => Boolean(query.email))
  const [code, setCode] = useState('')
  const [password, setPassword] = useState('')
  const [resent, setResent] = useState(false)
  const { busy, error, run } = useFormAction()
  const resend = useFormAction()

  const submit = (event: FormEvent) => {
    event.preventDefault()
    setResent(false)
    void run(async () => {
      const address = email.trim()
      await client.confirmForgotPassword(address, code.trim(), password)
      navigate(href('/sign-in', { email: address, reset: '1' }), { replace: true })
    })
  }

  const sendAgain = () => {
    setResent(false)
    void resend.run(async () => {
      await client.forgotPassword(email.trim())
      setResent(true)
    })
  }

  return (
    <AuthCard
      title="Choose a new password"
      intro={email ? `Enter the code we sent to ${email} and your new password.` : 'Enter the code we e-mailed you and your new password.'}
      footer={
        <>
          <p>
            <Link to={href('/sign-in', { email: email.trim() })}>Back to sign in</Link>
          </p>
          {dev ? (
            <p>
              Running in development? Codes are in the <Link to="/mailbox" className="underline">dev mailbox</Link>.
            </p>
          ) : null}
        </>
      }
    >
      <form onSubmit={submit} className="space-y-4">
        <FormError error={error ?? resend.error} />
        {resent && !error ? <Alert tone="success">If the address has an account, a new code is on its way.</Alert> : null}
        <TextField label="E-mail" autoFocus={!prefilled} type="email" name="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <TextField
          label="Code"
          autoFocus={prefilled}
          name="code"
          inputMode="numeric"
          autoComplete="one-time-code"
          pattern="[0-9]{6}"
          required
          className="[&_input]:font-mono [&_input]:tracking-[0.3em]"
          value={code}
          onChange={(e) => setCode(codeDigits(e.target.value))}
        />
        <TextField
          label="New password"
          type="password"
          name="new-password"
          autoComplete="new-password"
          required
          minLength={8}
          maxLength={256}
          hint="8 to 256 characters; common or easily guessed passwords are refused. Every signed-in device will be signed out."
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <div className="flex flex-wrap items-center justify-between gap-3">
          <Button variant="secondary" onClick={sendAgain} busy={resend.busy} disabled={!email.trim()}>
            Resend code
          </Button>
          <Button type="submit" busy={busy}>
            {busy ? 'Saving…' : 'Set new password'}
          </Button>
        </div>
      </form>
    </AuthCard>
  )
}
