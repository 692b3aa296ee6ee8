import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

/**
 * A browser-like client for the pages over inject: it keeps cookies, sends each form's CSRF
 * token back, and can follow redirects. The real-browser tests are in test/browser.
 */
export class WebClient {
  readonly cookies = new Map<string, string>();
  lastHtml = '';

  constructor(private readonly app: FastifyInstance) {}

  /** Signs in without the login form, with a token the test already has. */
  withToken(token: string): this {
    this.cookies.set('cpl_session', token);
    return this;
  }

  private cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keep(response: LightMyRequestResponse) {
    for (const c of response.cookies as { name: string; value: string; maxAge?: number; expires?: Date }[]) {
      const cleared = c.value === '' || c.maxAge === 0 || (c.expires && c.expires.getTime() < Date.now());
      if (cleared) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
    if (String(response.headers['content-type'] ?? '').startsWith('text/html')) this.lastHtml = response.body;
    return response;
  }

  async get(url: string, headers: Record<string, string> = {}) {
    return this.keep(await this.app.inject({ method: 'GET', url, headers: { cookie: this.cookieHeader(), ...headers } }));
  }

  /** The CSRF token of the last page's forms. */
  csrf(): string {
    const match = /name="_csrf" value="([^"]+)"/.exec(this.lastHtml);
    if (!match) throw new Error('The last page had no form with a CSRF token');
    return match[1]!;
  }

  /** Posts a form as a browser would, with the CSRF token from the last page unless one is given. */
  async post(url: string, form: Record<string, string | string[]>, options: { csrf?: string | null } = {}) {
    const params = new URLSearchParams();
    const token = options.csrf === undefined ? this.csrf() : options.csrf;
    if (token !== null) params.append('_csrf', token);
    for (const [k, v] of Object.entries(form)) for (const one of Array.isArray(v) ? v : [v]) params.append(k, one);
    return this.keep(
      await this.app.inject({
        method: 'POST',
        url,
        headers: { cookie: this.cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' },
        payload: params.toString(),
      }),
    );
  }

  /** Follows a 303 the way a browser does, with a GET. */
  async follow(response: LightMyRequestResponse) {
    if (response.statusCode !== 303 && response.statusCode !== 302) {
      throw new Error(`Expected a redirect, got ${response.statusCode}: ${response.body.slice(0, 500)}`);
    }
    return this.get(String(response.headers.location));
  }

  /** The values of the hidden inputs of the last page's form that posts to `action`. */
  hiddenFields(action: string): Record<string, string | string[]> {
    const start = this.lastHtml.indexOf(`action="${action}"`);
    if (start < 0) throw new Error(`No form posts to ${action}`);
    const form = this.lastHtml.slice(start, this.lastHtml.indexOf('</form>', start));
    const out: Record<string, string | string[]> = {};
    for (const m of form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
      const [, name, value] = m as unknown as [string, string, string];
      if (name === '_csrf') continue;
      const decoded = value.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
      const prev = out[name];
      out[name] = prev === undefined ? decoded : Array.isArray(prev) ? [...prev, decoded] : [prev, decoded];
    }
    return out;
  }
}

/** The visible text of some HTML, with runs of white space collapsed, for assertions. */
export function text(html: string): string {
  return html
    .replace(/<script[\s\S]*?<\/script>/g, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/\s+/g, ' ');
}
