// Pricing in Cocoon's shape: a price per token, a multiplier per token kind and a coefficient per worker.
//
//   SettlementAccount spec.pricePerUnitNanoton           the price of one unit (the contract's pricePerUnit)
//   SettlementAccount spec.tokenPriceMultipliers         prompt, completion and cached-prompt multipliers,
//                                                        ten-thousandths (10000 = 1.0×, Cocoon's unit),
//                                                        default 10000; cached defaults to the prompt one
//   ProviderNode spec.priceCoefficient                   the host's coefficient, thousandths (1000 = 1.0×)
//
// A unit is one token at 1.0× on a 1.0× host. A host earns, per token kind (prompt tokens the server read
// from its prefix cache are their own kind; the other prompt tokens are priced as prompt tokens),
//   units = tokens × multiplier / 10000 × coefficient / 1000
// and a unit is paid pricePerUnitNanoton by the contract, so earned nanotons = units × pricePerUnitNanoton.
// Integer math throughout: the exact amount is kept in ten-millionths of a unit (SCALE = 10000 × 1000).
//
// Rounding: per payee, the units credited are the floor of the exact cumulative amount; the fraction below
// one unit is kept (status.usage[].payees[].remainder) and added to the next fold, so rounding never loses
// more than a fraction of one unit per payee at any moment and nothing is lost over time. With the
// defaults (1.0× everywhere) a unit is a token and there is never a remainder.
//
// The multipliers and the coefficient in force when a report is folded price its tokens: changing them
// prices only tokens folded afterwards (as a payout address change moves only later units).
import type { ProviderNode } from '../api/providernode.js';
import type { SettlementAccount } from '../api/settlementaccount.js';

/** Multipliers are in ten-thousandths (Cocoon's unit). */
export const MULTIPLIER_ONE = 10_000n;
/** Coefficients are in thousandths (ProviderNode spec.priceCoefficient). */
export const COEFFICIENT_ONE = 1_000n;
/** Exact amounts are in 1/SCALE of a unit. */
export const SCALE = MULTIPLIER_ONE * COEFFICIENT_ONE;

export interface TokenPricing {
  /** ten-thousandths */
  promptMultiplier: bigint;
  /** ten-thousandths */
  completionMultiplier: bigint;
  /** ten-thousandths, for prompt tokens read from the server's prefix cache */
  cachedPromptMultiplier: bigint;
  /** thousandths */
  coefficient: bigint;
}

export const DEFAULT_PRICING: TokenPricing = Object.freeze({ promptMultiplier: MULTIPLIER_ONE, completionMultiplier: MULTIPLIER_ONE, cachedPromptMultiplier: MULTIPLIER_ONE, coefficient: COEFFICIENT_ONE });

function wholeAtLeast(value: unknown, field: string, min: number, fallback: bigint): bigint {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${field} must be a whole number ≥ ${min}, got ${String(value)}; fix the object's spec`);
  }
  return BigInt(value);
}

/** The pricing of tokens a host folds for an account: the account's multipliers, the host's coefficient. */
export function pricingOf(account: Pick<SettlementAccount, 'spec'>, host: Pick<ProviderNode, 'spec'> | undefined): TokenPricing {
  const m = account.spec.tokenPriceMultipliers;
  const promptMultiplier = wholeAtLeast(m?.promptTokens, 'SettlementAccount spec.tokenPriceMultipliers.promptTokens', 0, MULTIPLIER_ONE);
  return {
    promptMultiplier,
    completionMultiplier: wholeAtLeast(m?.completionTokens, 'SettlementAccount spec.tokenPriceMultipliers.completionTokens', 0, MULTIPLIER_ONE),
    cachedPromptMultiplier: wholeAtLeast(m?.cachedPromptTokens, 'SettlementAccount spec.tokenPriceMultipliers.cachedPromptTokens', 0, promptMultiplier),
    coefficient: wholeAtLeast(host?.spec?.priceCoefficient, 'ProviderNode spec.priceCoefficient', 1, COEFFICIENT_ONE),
  };
}

/**
 * The exact units of a token delta, in 1/SCALE of a unit. Cached prompt tokens are part of promptTokens
 * (at most all of them); they are priced at their own multiplier, the rest at the prompt multiplier.
 */
export function scaledUnits(tokens: { promptTokens: bigint; generationTokens: bigint; cachedPromptTokens?: bigint }, p: TokenPricing): bigint {
  const cached = tokens.cachedPromptTokens ?? 0n;
  if (cached < 0n || cached > tokens.promptTokens) throw new RangeError(`cached prompt tokens ${cached} are not within the ${tokens.promptTokens} prompt tokens`);
  return ((tokens.promptTokens - cached) * p.promptMultiplier + cached * p.cachedPromptMultiplier + tokens.generationTokens * p.completionMultiplier) * p.coefficient;
}

/**
 * Whole units to credit a payee and the fraction to carry: floor((remainder + scaled) / SCALE). The
 * remainder given must be what the previous credit left (0 ≤ remainder < SCALE).
 */
export function creditUnits(remainder: bigint, scaled: bigint): { units: bigint; remainder: bigint } {
  if (remainder < 0n || remainder >= SCALE) throw new RangeError(`a carried remainder must be within [0, ${SCALE}), got ${remainder}`);
  const exact = remainder + scaled;
  return { units: exact / SCALE, remainder: exact % SCALE };
}

/** What `units` earn at `pricePerUnitNanoton` (before the contract's commission). */
export function earnedNanoton(units: bigint, pricePerUnitNanoton: bigint): bigint {
  return units * pricePerUnitNanoton;
}
