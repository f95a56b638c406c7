// OpenAI's `reasoning_effort` names a level; Anthropic (`thinking.budget_tokens`) and Gemini
// (`thinkingConfig.thinkingBudget`) take a token budget. The levels map onto the budgets Google documents for its
// own OpenAI-compatible endpoint (low 1,024, medium 8,192, high 24,576 tokens), used for both providers so an alias
// behaves the same whichever serves it. 1,024 is also Anthropic's smallest budget, so `minimal` lands there.

export const REASONING_EFFORTS = ['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max'] as const;
export type ReasoningEffort = (typeof REASONING_EFFORTS)[number];

/** Thinking budget per effort; `none` is "no thinking" and has no budget. */
export const EFFORT_BUDGET: Readonly<Record<Exclude<ReasoningEffort, 'none'>, number>> = {
  minimal: 1024,
  low: 1024,
  medium: 8192,
  high: 24576,
  // Above OpenAI's `high`: the largest budget Gemini 2.5 Pro takes (Anthropic accepts it on every thinking model).
  xhigh: 32768,
  max: 32768,
};

/** Anthropic's smallest thinking budget. */
export const MIN_ANTHROPIC_BUDGET = 1024;

/** The effort whose budget is nearest to `budget` (nearest on a log scale, as the levels grow geometrically). */
export function effortForBudget(budget: number): 'low' | 'medium' | 'high' {
  const levels = ['low', 'medium', 'high'] as const;
  let best: (typeof levels)[number] = 'low';
  let bestDistance = Infinity;
  for (const level of levels) {
    const distance = Math.abs(Math.log(Math.max(1, budget)) - Math.log(EFFORT_BUDGET[level]));
    if (distance < bestDistance) {
      best = level;
      bestDistance = distance;
    }
  }
  return best;
}
