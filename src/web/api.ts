import type { FastifyInstance, FastifyRequest } from 'fastify';

/** A problem+json document as the API renders it. */
export interface Problem {
  status: number;
  code: string;
  title: string;
  detail: string;
  requestId?: string;
  errors?: { field: string; message: string }[];
  [member: string]: unknown;
}

export type ApiResult<T> = { ok: true; status: number; data: T } | { ok: false; status: number; problem: Problem };

/** The caller's token is missing, expired or revoked: the page sends them to sign in again. */
export class SessionEnded extends Error {
  constructor() {
    super('The session has ended');
  }
}

/** An API answer the page cannot go on from (not found, forbidden, a 5xx): rendered as an error page. */
export class PageError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail);
  }
}

/**
 * The pages' only way to the data: the public API, called in-process with the signed-in user's
 * own bearer token, so a page can do nothing that user could not do over HTTP and has no rules
 * of its own. The client's address is passed on, so per-client rate limits still apply.
 */
export class ApiClient {
  constructor(
    private readonly app: FastifyInstance,
    private readonly request: FastifyRequest,
    private readonly token: string | null,
  ) {}

  /** The API's answer as sent; a 401 on a signed-in call ends the session. */
  private async send(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, accept: string, body?: unknown, idempotencyKey?: string) {
    // The host is passed on so the API builds links (Stripe's return address) to this site.
    const headers: Record<string, string> = { accept, host: this.request.host };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    const response = await this.app.inject({
      method,
      url,
      headers,
      remoteAddress: this.request.ip,
      ...(body === undefined ? {} : { payload: body as object }),
    });
    if (response.statusCode === 401 && this.token) throw new SessionEnded();
    return response;
  }

  async call<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown, options: { idempotencyKey?: string } = {}): Promise<ApiResult<T>> {
    const response = await this.send(method, url, 'application/json', body, options.idempotencyKey);
    const parsed = response.body ? (JSON.parse(response.body) as unknown) : null;
    if (response.statusCode >= 400) return { ok: false, status: response.statusCode, problem: parsed as Problem };
    return { ok: true, status: response.statusCode, data: parsed as T };
  }

  /** A download (CSV) passed through as the API sent it. */
  async download(url: string, accept: string): Promise<{ status: number; contentType: string; disposition?: string; body: string }> {
    const response = await this.send('GET', url, accept);
    if (response.statusCode >= 400) throw new PageError(JSON.parse(response.body) as Problem);
    return {
      status: response.statusCode,
      contentType: String(response.headers['content-type']),
      disposition: response.headers['content-disposition'] as string | undefined,
      body: response.body,
    };
  }

  /** A read the page cannot do without: any failure becomes the error page. */
  async get<T>(url: string): Promise<T> {
    const result = await this.call<T>('GET', url);
    if (!result.ok) throw new PageError(result.problem);
    return result.data;
  }

  /** Every page of a list, for the short lists a page shows in full (budgets, contributors). */
  async all<T>(url: string, max = 1000): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | null = null;
    do {
      const sep = url.includes('?') ? '&' : '?';
      const page: { data: T[]; nextCursor: string | null } = await this.get(`${url}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      out.push(...page.data);
      cursor = page.nextCursor;
    } while (cursor && out.length < max);
    return out;
  }
}
