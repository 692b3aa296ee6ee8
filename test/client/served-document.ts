/**
 * The OpenAPI document exactly as the service serves it (GET /openapi.json), from the real app
 * built as the tests build it. Run directly, it prints the document:
 *
 *   npx tsx test/client/served-document.ts > openapi.json
 *
 * which is what CI lints with Redocly (.ci/run) and what test/client/schema.d.ts is generated from.
 */
import { pathToFileURL } from 'node:url';
import { buildTestApp } from '../helpers/app.js';
import { testDatabase } from '../helpers/database.js';

export async function servedDocument(env: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const app = await buildTestApp({ env });
  try {
    const response = await app.inject({ method: 'GET', url: '/openapi.json' });
    if (response.statusCode !== 200) throw new Error(`GET /openapi.json answered ${response.statusCode}: ${response.body}`);
    return response.json();
  } finally {
    await app.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const document = await servedDocument();
  process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  await (await testDatabase()).close();
}
