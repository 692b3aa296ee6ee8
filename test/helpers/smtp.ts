/**
 * A real SMTP server for tests (the `smtp-server` package, on a free port on 127.0.0.1), which
 * parses what arrives with `mailparser`. A message counts as received only once the server has
 * answered 250 to it, as a real mail server takes responsibility for it only then.
 *
 * It can be told to refuse messages (`refuse`: a 4xx or 5xx answer to the end of the data) or
 * to stall (`stall`: read the whole message and never answer, as a hung server does; the
 * message is dropped when the client goes away, never delivered). Every DATA transaction is
 * kept in `transactions` with what became of it.
 *
 *   const smtp = await startSmtpServer();
 *   t.teardown(() => smtp.close());
 *   // SMTP_URL: smtp.url
 *   const mail = await smtp.waitForMail((m) => m.to.includes(address));
 */
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  /** The SMTP envelope: MAIL FROM and RCPT TO addresses. */
  envelope: { from: string | null; to: string[] };
  /** Recipients of the envelope, lower case (for filtering by a test's own addresses). */
  to: string[];
  subject: string;
  text: string;
  /** The HTML body, or '' when there is none. */
  html: string;
  messageId: string | undefined;
  headers: ParsedMail['headers'];
  parsed: ParsedMail;
  raw: Buffer;
}

export type Outcome = 'accepted' | 'refused' | 'stalled';

export interface Transaction {
  mail: ReceivedMail;
  outcome: Outcome;
  /** The reply code sent (250, or the refusal's), null while stalled. */
  code: number | null;
}

/** Which messages a refusal or a stall applies to (the others are accepted). */
export type Match = (mail: ReceivedMail) => boolean;

export type Mode =
  | { kind: 'accept' }
  | { kind: 'refuse'; code: number; message: string; times: number; match: Match }
  | { kind: 'stall'; match: Match };

export interface SmtpTestServer {
  /** `smtp://127.0.0.1:<port>`, for SMTP_URL. */
  url: string;
  port: number;
  /** Messages the server accepted (answered 250), in order. */
  readonly received: ReceivedMail[];
  /** Every DATA transaction, whatever became of it. */
  readonly transactions: Transaction[];
  /** Accepted messages to an address (case-insensitive). */
  receivedBy(address: string): ReceivedMail[];
  /** Accept every message from now on (the default). */
  accept(): void;
  /**
   * Refuse the next `times` messages that `match` (default: every message, until told otherwise)
   * with `code` (default 451, a temporary failure) after reading their data; then accept again.
   */
  refuse(options?: { code?: number; message?: string; times?: number; match?: Match }): void;
  /** Read the data of each message that `match`es (default: all) and never answer it; they are never delivered. */
  stall(options?: { match?: Match }): void;
  /** The first accepted message (already received or still to come) that matches. */
  waitForMail(match?: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  /** The first transaction (any outcome, stalled included) whose data has fully arrived and matches. */
  waitForTransaction(match?: (t: Transaction) => boolean, timeoutMs?: number): Promise<Transaction>;
  close(): Promise<void>;
}

export async function startSmtpServer(options: { port?: number } = {}): Promise<SmtpTestServer> {
  const received: ReceivedMail[] = [];
  const transactions: Transaction[] = [];
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const wake of [...waiters]) wake();
  };
  let mode: Mode = { kind: 'accept' };

  const server = new SMTPServer({
    // A plain local server: no TLS (the sender would refuse its self-signed certificate), any
    // client, no log-in needed but accepted when offered.
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    logger: false,
    // Close promptly in teardown even with a stalled client still connected.
    closeTimeout: 200,
    onAuth(_auth, _session, callback) {
      callback(null, { user: 'test' });
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        void simpleParser(raw).then((parsed) => {
          const to = session.envelope.rcptTo.map((a) => a.address.toLowerCase());
          const mail: ReceivedMail = {
            envelope: { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : null, to },
            to,
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
            messageId: parsed.messageId,
            headers: parsed.headers,
            parsed,
            raw,
          };
          const current = mode.kind !== 'accept' && mode.match(mail) ? mode : ({ kind: 'accept' } as const);
          if (current.kind === 'stall') {
            transactions.push({ mail, outcome: 'stalled', code: null });
            changed();
            return; // never answered: dropped when the client goes away
          }
          if (current.kind === 'refuse') {
            if (--current.times <= 0) mode = { kind: 'accept' };
            transactions.push({ mail, outcome: 'refused', code: current.code });
            changed();
            return callback(Object.assign(new Error(current.message), { responseCode: current.code }));
          }
          received.push(mail);
          transactions.push({ mail, outcome: 'accepted', code: 250 });
          callback(null, 'Queued');
          changed();
        }, (error: Error) => callback(error));
      });
    },
  });
  server.on('error', () => {
    // A client cut mid-conversation (the point of several tests) is not the server's failure.
  });

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;

  function waitUntil<T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`${what} did not arrive within ${timeoutMs} ms (${transactions.length} transaction(s): ${transactions.map((t) => `${t.outcome} "${t.mail.subject}" to ${t.mail.to.join(',')}`).join('; ')})`));
      }, timeoutMs);
      const check = () => {
        const value = find();
        if (value === undefined) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(value);
      };
      waiters.add(check);
    });
  }

  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    received,
    transactions,
    receivedBy: (address) => received.filter((m) => m.to.includes(address.toLowerCase())),
    accept() {
      mode = { kind: 'accept' };
    },
    refuse({ code = 451, message = 'Try again later', times = Number.POSITIVE_INFINITY, match = () => true } = {}) {
      mode = { kind: 'refuse', code, message, times, match };
    },
    stall({ match = () => true } = {}) {
      mode = { kind: 'stall', match };
    },
    waitForMail: (match = () => true, timeoutMs = 20_000) => waitUntil(() => received.find(match), timeoutMs, 'The email'),
    waitForTransaction: (match = () => true, timeoutMs = 20_000) => waitUntil(() => transactions.find(match), timeoutMs, 'The SMTP transaction'),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A Match for messages to one address. */
export const sentTo =
  (address: string): Match =>
  (mail) =>
    mail.to.includes(address.toLowerCase());
