/**
 * The digits of a typed or pasted code, at most six: "123 456" and
 * "123-456" (as a mail client may copy it) are both 123456.
 */
export function codeDigits(value: string): string {
  return value.replace(/\D/g, '').slice(0, 6)
}
