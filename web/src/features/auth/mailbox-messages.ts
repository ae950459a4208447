// The dev mailbox (`GET /dev/mailbox`): parsing what the server sends and
// picking the code out of each message.

export interface MailMessage {
  to: string
  subject: string
  text: string
  sentAt: string
}

/** Keeps the well-formed messages of the answer, newest first (the server lists newest last). */
export function parseMailbox(json: unknown): MailMessage[] {
  if (!Array.isArray(json)) return []
  const messages: MailMessage[] = []
  for (const item of json as unknown[]) {
    if (typeof item !== 'object' || item === null) continue
    const { to, subject, text, sentAt } = item as Record<string, unknown>
    if (typeof to === 'string' && typeof subject === 'string' && typeof text === 'string') {
      messages.push({ to, subject, text, sentAt: typeof sentAt === 'string' ? sentAt : String(sentAt ?? '') })
    }
  }
  return messages.reverse()
}

/** The 6-digit code in a message, if it has one. */
export function extractCode(text: string): string | null {
  return /(?<!\d)\d{6}(?!\d)/.exec(text)?.[0] ?? null
}

/** Where a message's code is entered: a reset code on /reset, others on /confirm. */
export function codeScreen(subject: string): '/reset' | '/confirm' {
  return /reset|password/i.test(subject) ? '/reset' : '/confirm'
}
