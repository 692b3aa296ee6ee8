import { fileURLToPath } from 'node:url';
import * as sass from 'sass';

export const stylesheetSource = fileURLToPath(new URL('./styles/app.scss', import.meta.url));
export const builtStylesheet = fileURLToPath(new URL('./assets/app.css', import.meta.url));

/** Compiles the pages' stylesheet from GOV.UK Frontend's Sass. Used by `npm run build:css` and a test. */
export function compileStylesheet(): string {
  const result = sass.compile(stylesheetSource, {
    loadPaths: [fileURLToPath(new URL('../../node_modules', import.meta.url))],
    style: 'compressed',
    quietDeps: true,
    silenceDeprecations: ['import'],
  });
  return `${result.css}\n`;
}
