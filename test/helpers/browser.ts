import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Test } from 'tap';
import { startStripeDouble, type StripeDouble } from '../../tools/stripe-double/index.js';
import { buildTestApp, json, uniqueEmail } from './app.js';
import { testDatabase } from './database.js';
import { stripeFor, WEBHOOK_SECRET } from './payout-fixtures.js';

/**
 * What the real-browser tests in test/browser share: Debian's Chromium driven by playwright-core
 * against the real server on a real port, axe-core on each page, and screenshots for a reviewer.
 */

/** The desktop viewport every page opens at, and returns to after its screenshots. */
const DESKTOP = { width: 1280, height: 900 } as const;
const SCREENSHOTS = join(process.cwd(), 'test-results', 'screenshots');

export interface BrowserApp {
  app: FastifyInstance;
  /** Where the app listens, e.g. http://127.0.0.1:41234, without a trailing slash. */
  base: string;
  browser: Browser;
}

/**
 * Starts the app on the file's test database on a free port, and Chromium; both (and the
 * database) are closed when the file ends. With `stripeDouble`, the app talks to a fresh Stripe
 * test double (returned as `double`), closed after the app.
 */
export async function startBrowserApp(t: Test, options: { stripeDouble: true }): Promise<BrowserApp & { double: StripeDouble }>;
export async function startBrowserApp(t: Test, options?: { stripeDouble?: false }): Promise<BrowserApp>;
export async function startBrowserApp(t: Test, options: { stripeDouble?: boolean } = {}): Promise<BrowserApp & { double?: StripeDouble }> {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`Chromium is not at ${executablePath}. Install it (apt-get install chromium) or set CHROMIUM_PATH; .ci/run installs it.`);
  }
  const double = options.stripeDouble ? await startStripeDouble() : undefined;
  const app = await buildTestApp(
    double ? { stripe: stripeFor(double), env: { STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET } } : {},
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    // Root in CI has no sandbox; the closed network refuses Chromium's background connections.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(async () => {
    await browser.close();
    await app.close();
    await double?.close();
    await (await testDatabase()).close();
  });
  return { app, base, browser, ...(double ? { double } : {}) };
}

/**
 * The API over inject, for setting up what the pages show: returns the JSON body, and throws
 * with the status and body on anything but a 2xx.
 */
export function apiCaller(app: FastifyInstance) {
  return async function api<T = any>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH',
    url: string,
    headers: Record<string, string>,
    payload?: object,
  ): Promise<T> {
    const res = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
    if (res.statusCode >= 300) throw new Error(`${method} ${url} → ${res.statusCode}: ${res.body}`);
    return json<T>(res);
  };
}

/**
 * Makes a user of the organisation through the API (as `adminHeaders`) who signs in with
 * `password`, and returns their new, unique email.
 */
export async function addUserWithPassword(
  app: FastifyInstance,
  adminHeaders: Record<string, string>,
  user: { role: string; name: string; password: string; contributorId?: string },
): Promise<string> {
  const { role, name, password, contributorId } = user;
  const email = uniqueEmail(role);
  await apiCaller(app)('POST', '/v1/users', adminHeaders, { email, name, role, password, ...(contributorId ? { contributorId } : {}) });
  return email;
}

/**
 * One assertion that axe-core finds no serious or critical WCAG 2.2 AA violation on the page;
 * then, unless `screenshots: false`, the page is photographed at phone and desktop width into
 * test-results/screenshots as `<name>-phone.png` and `<name>-desktop.png`, for a reviewer.
 */
export async function reviewPage(t: Test, page: Page, name: string, options: { screenshots?: boolean } = {}): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  t.same(
    serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
    [],
    `${name}: no serious accessibility violations`,
  );
  if (options.screenshots === false) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  for (const [label, width, height] of [
    ['phone', 375, 812],
    ['desktop', DESKTOP.width, DESKTOP.height],
  ] as const) {
    await page.setViewportSize({ width, height });
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-${label}.png`), fullPage: true });
  }
  await page.setViewportSize(DESKTOP);
}

export interface OpenedPage {
  page: Page;
  /** Script errors, failed sub-resources and (unless turned off) console errors, for `t.same(errors, [])`. */
  errors: string[];
  close: () => Promise<void>;
}

/**
 * A page in a fresh browser context (no cookies), at desktop width, that collects what went wrong
 * on it into `errors`. `consoleErrors: false` leaves console errors out.
 */
export async function openPage(browser: Browser, options: { consoleErrors?: boolean } = {}): Promise<OpenedPage> {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // A form answered with 400 is expected; a stylesheet, script or image that fails is not.
  page.on('response', (r) => {
    if (r.status() >= 400 && r.request().resourceType() !== 'document') errors.push(`${r.status()} ${r.url()}`);
  });
  if (options.consoleErrors ?? true) {
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
    });
  }
  return { page, errors, close: () => context.close() };
}

/** Fills in and submits the sign-in form the page is showing. */
export async function submitSignIn(page: Page, email: string, password: string): Promise<void> {
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Goes to the home page (which sends a visitor to the sign-in form) and signs in. */
export async function signIn(page: Page, base: string, email: string, password: string): Promise<void> {
  await page.goto(`${base}/`);
  await submitSignIn(page, email, password);
}
