// Waits between retries: exponential backoff with "equal jitter" (half the step fixed, half random), so callers
// that failed together do not retry together, and no wait is shorter than half its step.

/** The wait before retry n (0-based): min(max, min·factorⁿ), of which the upper half is random. */
export function backoffMs(n: number, factor: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const step = Math.min(maxMs, minMs * factor ** n);
  return Math.round(step / 2 + random() * (step / 2));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
