/**
 * The HTTP ceiling: a bare Fastify 5 process whose one route returns a constant. Started by the
 * benchmark as a child process (PORT from the environment), measured with autocannon.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
const body = { ok: true };
app.get('/constant', async () => body);

await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void app.close().then(() => process.exit(0));
  });
}
