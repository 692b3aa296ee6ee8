// Progressive enhancement: every page works without JavaScript; with it, GOV.UK Frontend's
// components gain their behaviour (the error summary takes focus, the menu folds on phones).
import { initAll } from '/assets/govuk/govuk-frontend.min.js';

initAll();
