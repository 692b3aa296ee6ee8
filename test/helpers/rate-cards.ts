/**
 * Rate cards the tests (and the benchmark's seed) set up over the API. Plain data, with no
 * imports, so that anything may use it.
 */

/** The involvement rates: £20 an hour for lived experience and carers, an in-kind £30 for professionals, £50 workshops. */
export const involvementRates = [
  { activity: 'meeting', contributorKind: 'lived_experience', unit: 'hour', amount: 2000 },
  { activity: 'meeting', contributorKind: 'carer', unit: 'hour', amount: 2000 },
  { activity: 'meeting', contributorKind: 'professional', unit: 'hour', amount: 3000, inKind: true },
  { activity: 'workshop', contributorKind: 'lived_experience', unit: 'session', amount: 5000 },
];

/** Meetings paid in money for every kind of contributor: £20 an hour, £30 for professionals. */
export const everyKindPaidRates = (['lived_experience', 'carer', 'professional'] as const).map((contributorKind) => ({
  activity: 'meeting',
  contributorKind,
  unit: 'hour',
  amount: contributorKind === 'professional' ? 3000 : 2000,
}));
