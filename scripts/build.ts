/**
 * `npm run build`: compiles src/ to dist/ with TypeScript (same layout, so paths such as
 * ../../drizzle resolve the same from both) and copies the files the pages read at run time.
 * Production runs `node dist/server.js`: no TypeScript loader in the process, which starts
 * faster and keeps about 65 MB less resident (bench/README.md).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = `${root}dist`;
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', `${root}tsconfig.build.json`], { stdio: 'inherit' });
for (const dir of ['web/views', 'web/assets']) {
  cpSync(`${root}src/${dir}`, `${dist}/${dir}`, { recursive: true });
}
console.log(`built ${dist}`);
