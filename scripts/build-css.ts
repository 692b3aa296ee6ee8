import { writeFileSync } from 'node:fs';
import { builtStylesheet, compileStylesheet } from '../src/web/build-css.js';

const css = compileStylesheet();
writeFileSync(builtStylesheet, css);
console.log(`wrote ${builtStylesheet} (${css.length} bytes)`);
