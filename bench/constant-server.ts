/**
 * The HTTP ceiling: a bare Fastify 5 process whose one route returns a constant. Started by the
 * benchmark as a child process (PORT from the environment), measured with autocannon. With
 * BODY_FILE, a second route, /body, answers that file's JSON (parsed once, written on every
 * request as Fastify writes an object): what the same answer costs with no work behind it.
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const app = Fastify({ logger: false });
const body = { ok: true };
app.get('/constant', async () => body);
if (process.env.BODY_FILE) {
  const answer: unknown = JSON.parse(readFileSync(process.env.BODY_FILE, 'utf8'));
  app.get('/body', async () => answer);
}

await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void app.close().then(() => process.exit(0));
  });
}
