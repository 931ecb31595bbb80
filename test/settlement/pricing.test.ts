// Pricing in Cocoon's shape (operator/src/settlement/pricing.ts): earned = tokens × price × multiplier ×
// coefficient in integer math; per payee the credited units are the floor of the exact cumulative amount
// and the fraction is carried, so however the tokens arrive in reports the same units are credited.
import test from 'ava';
import fc from 'fast-check';
import { addUsage, ZERO_DELTA } from '../../operator/src/settlement/metering.js';
import { creditUnits, DEFAULT_PRICING, earnedNanoton, pricingOf, SCALE, scaledUnits, type TokenPricing } from '../../operator/src/settlement/pricing.js';

const account = (m?: { promptTokens?: number; completionTokens?: number; cachedPromptTokens?: number }) => ({ spec: { network: 'sandbox' as const, pricePerUnitNanoton: '1', ...(m ? { tokenPriceMultipliers: m } : {}) } });

/** Units credited for one delta starting from no remainder. */
const unitsOf = (prompt: bigint, completion: bigint, p: TokenPricing) => creditUnits(0n, scaledUnits({ promptTokens: prompt, generationTokens: completion }, p));

test('at the defaults a unit is a token and nothing is carried', (t) => {
  t.deepEqual(pricingOf(account(), { spec: {} as never }), DEFAULT_PRICING);
  t.deepEqual(unitsOf(123n, 45n, DEFAULT_PRICING), { units: 168n, remainder: 0n });
});

test('earned = tokens × price × multiplier × coefficient', (t) => {
  // prompt 0.5×, completion 3.0×, a 1.5× host, 2 nanoton per unit
  const p = pricingOf(account({ promptTokens: 5_000, completionTokens: 30_000 }), { spec: { priceCoefficient: 1_500 } as never });
  t.deepEqual(p, { promptMultiplier: 5_000n, completionMultiplier: 30_000n, cachedPromptMultiplier: 5_000n, coefficient: 1_500n });
  const credited = unitsOf(10n, 3n, p);
  // (10 × 0.5 + 3 × 3.0) × 1.5 = 21 units exactly; 21 × 2 = 42 nanoton
  t.deepEqual(credited, { units: 21n, remainder: 0n });
  t.is(earnedNanoton(credited.units, 2n), 42n);
});

test('cached prompt tokens are priced at their own multiplier, the prompt one when none is set', (t) => {
  // 100 prompt tokens of which 80 cached: 20 × 1.0 + 80 × 0.1 = 28 units, + 10 completion tokens × 2.0 = 48
  const p = pricingOf(account({ promptTokens: 10_000, completionTokens: 20_000, cachedPromptTokens: 1_000 } as never), undefined);
  t.deepEqual(creditUnits(0n, scaledUnits({ promptTokens: 100n, cachedPromptTokens: 80n, generationTokens: 10n }, p)), { units: 48n, remainder: 0n });
  const same = pricingOf(account({ promptTokens: 5_000 }), undefined);
  t.is(same.cachedPromptMultiplier, 5_000n);
  t.is(scaledUnits({ promptTokens: 100n, cachedPromptTokens: 80n, generationTokens: 0n }, same), scaledUnits({ promptTokens: 100n, generationTokens: 0n }, same));
  t.throws(() => scaledUnits({ promptTokens: 1n, cachedPromptTokens: 2n, generationTokens: 0n }, same), { message: /cached prompt tokens 2 are not within the 1 prompt tokens/ });
});

test('the fraction below one unit is carried to the next report, never lost', (t) => {
  const half = pricingOf(account({ promptTokens: 5_000 }), undefined); // 0.5× prompt tokens
  let remainder = 0n;
  const credited: bigint[] = [];
  for (let i = 0; i < 5; i++) {
    const c = creditUnits(remainder, scaledUnits({ promptTokens: 1n, generationTokens: 0n }, half));
    credited.push(c.units);
    remainder = c.remainder;
  }
  t.deepEqual(credited, [0n, 1n, 0n, 1n, 0n]); // 5 × 0.5 = 2.5: two units credited, half a unit carried
  t.is(remainder, SCALE / 2n);
});

test('however the tokens are split into reports, the units credited are floor(exact total)', (t) => {
  fc.assert(fc.property(
    fc.array(fc.tuple(fc.bigInt({ min: 0n, max: 10_000n }), fc.bigInt({ min: 0n, max: 10_000n })), { minLength: 1, maxLength: 20 }),
    fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 1, max: 100_000 }),
    (deltas, pm, cm, coef) => {
      const p = pricingOf(account({ promptTokens: pm, completionTokens: cm }), { spec: { priceCoefficient: coef } as never });
      let remainder = 0n;
      let units = 0n;
      for (const [prompt, completion] of deltas) {
        const c = creditUnits(remainder, scaledUnits({ promptTokens: prompt, generationTokens: completion }, p));
        units += c.units;
        remainder = c.remainder;
      }
      const prompt = deltas.reduce((a, [x]) => a + x, 0n);
      const completion = deltas.reduce((a, [, y]) => a + y, 0n);
      const exact = (prompt * BigInt(pm) + completion * BigInt(cm)) * BigInt(coef);
      return units === exact / SCALE && remainder === exact % SCALE;
    },
  ));
  t.pass();
});

test('a bad multiplier or coefficient names the field to fix', (t) => {
  t.throws(() => pricingOf(account({ promptTokens: -1 }), undefined), { message: /spec\.tokenPriceMultipliers\.promptTokens must be a whole number ≥ 0/ });
  t.throws(() => pricingOf(account(), { spec: { priceCoefficient: 0 } as never }), { message: /ProviderNode spec\.priceCoefficient must be a whole number ≥ 1/ });
  t.throws(() => creditUnits(SCALE, 0n), { message: /remainder/ });
});

test('addUsage records the carried fraction per payee and keeps it when no new one is given', (t) => {
  let usage = addUsage(undefined, 'ns/acct', '0:aa', { ...ZERO_DELTA, promptTokens: 3n, units: 1n }, 5_000_000n);
  t.deepEqual(usage[0]!.payees, [{ payee: '0:aa', units: '1', remainder: '5000000' }]);
  usage = addUsage(usage, 'ns/acct', '0:aa', { ...ZERO_DELTA, promptTokens: 1n, units: 1n }, 0n);
  t.deepEqual(usage[0]!.payees, [{ payee: '0:aa', units: '2' }]);
  usage = addUsage(usage, 'ns/acct', '0:bb', { ...ZERO_DELTA, promptTokens: 1n, units: 0n }, 2_500_000n);
  usage = addUsage(usage, 'ns/acct', '0:bb', { ...ZERO_DELTA, promptTokens: 1n, units: 1n });
  t.deepEqual(usage[0]!.payees?.[1], { payee: '0:bb', units: '1', remainder: '2500000' });
  t.is(usage[0]!.units, '3');
  t.is(usage[0]!.promptTokens, '6');
});
