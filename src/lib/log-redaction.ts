/**
 * Email addresses never reach a log (#18). Logs are kept longer, copied further and read by more
 * people than the records they describe, and an erased contributor must not live on in them.
 *
 * Two layers, because one is not enough:
 * - the logger's `redact` paths remove the fields known to hold an address (EMAIL_LOG_PATHS),
 *   whatever their value, so the service's own log calls stay readable and cheap;
 * - every finished log line is then scrubbed of anything shaped like an address
 *   (withoutEmails), because addresses also arrive in text nobody here wrote: a mail server's
 *   refusal ("550 <someone@…>: Recipient address rejected"), a database error's detail
 *   ("Key (email)=(someone@…) already exists"), a URL someone typed an address into, Node's own
 *   argument errors in the CLI. A pattern cannot miss a field it was never told about.
 *
 * (Kept here, beside the sign-in code that handles addresses, rather than in src/lib, which
 * another change owned when this was written; it belongs there and may move.)
 */

/**
 * Something@something.tld, written out or URL-encoded (%40). The local part stops at characters
 * that end a token in JSON, URLs, SMTP replies and error text (quotes, brackets, `=`, `&`, `/`,
 * whitespace), so the replacement never swallows the syntax around an address: a JSON line stays
 * JSON. Addresses whose local part holds those characters (legal, but rare) lose only the part
 * after them, still enough to leave no one identifiable by their mailbox.
 */
const EMAIL = /[^\s"'`<>()[\]{}\\,;:=&?/@]+(?:@|%40)[^\s"'`<>()[\]{}\\,;:=&?/@%]+\.[A-Za-z]{2,}/g;

/** What an address is replaced with. */
export const EMAIL_REDACTED = '[email]';

/** `text` with every email address in it replaced. */
export function withoutEmails(text: string): string {
  return text.replace(EMAIL, EMAIL_REDACTED);
}

/**
 * Log fields that hold an address, for the logger's `redact` (pino paths: a key at the top of a
 * log call's object, or one level down, as `{ user: { email } }`).
 */
export const EMAIL_LOG_PATHS = [
  'email',
  '*.email',
  'adminEmail',
  '*.adminEmail',
  'toAddress',
  '*.toAddress',
  'address',
  'recipient',
  'recipients',
  '*.recipients',
  'body.email',
];

/** A log destination that writes each line without the email addresses in it. */
export function linesWithoutEmails(destination: { write(line: string): unknown }): { write(line: string): void } {
  return {
    write(line: string) {
      destination.write(withoutEmails(line));
    },
  };
}
