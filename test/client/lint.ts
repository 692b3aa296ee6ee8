/**
 * Lints the served OpenAPI document with Redocly CLI (its recommended rules, with the switches
 * in redocly.yaml) and passes only with 0 errors and 0 warnings. CI runs it before the test
 * phases (.ci/run):
 *
 *   npx tsx test/client/lint.ts
 *
 * It needs no network: the document comes from the app built in this process, on in-memory PGlite.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { testDatabase } from '../helpers/database.js';
import { servedDocument } from './served-document.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface LintProblem {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  location: { pointer: string }[];
}

export interface LintResult {
  totals: { errors: number; warnings: number; ignored: number };
  problems: LintProblem[];
}

/** Runs `redocly lint` on a document and answers its JSON report. */
export async function lintDocument(document: unknown): Promise<LintResult> {
  const dir = mkdtempSync(join(tmpdir(), 'openapi-lint-'));
  try {
    const file = join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(document, null, 2));
    const cli = join(root, 'node_modules', '.bin', 'redocly');
    const args = ['lint', file, '--config', join(root, 'redocly.yaml'), '--format', 'json', '--max-problems', '1000'];
    // Redocly exits 1 when it finds errors; its report on stdout is what counts.
    const output = await promisify(execFile)(cli, args, {
      cwd: root,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
      maxBuffer: 64 * 1024 * 1024,
    }).catch((error: { stdout?: string; stderr?: string }) => {
      if (error.stdout?.trim().startsWith('{')) return { stdout: error.stdout };
      throw new Error(`redocly lint failed to run: ${error.stderr ?? String(error)}`);
    });
    return JSON.parse(output.stdout) as LintResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const describeProblem = (p: LintProblem) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location.map((l) => l.pointer).join(', ')}`;

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await lintDocument(await servedDocument());
  await (await testDatabase()).close();
  for (const problem of result.problems) console.log(describeProblem(problem));
  const { errors, warnings } = result.totals;
  console.log(`Redocly lint of the served OpenAPI document: ${errors} errors, ${warnings} warnings (recommended rules, redocly.yaml).`);
  process.exitCode = errors + warnings === 0 ? 0 : 1;
}
