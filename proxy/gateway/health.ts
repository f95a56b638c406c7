// Live statistics of one deployment, per proxy process and in memory: what the routing strategies read (calls in
// flight, recent latency, this minute's requests and tokens) and the cooldown that keeps a failing deployment out
// of rotation for a while. Updated once per attempt; nothing here allocates per call.

/** Weight of the newest sample in the moving averages. */
const EWMA_ALPHA = 0.3;

export interface CooldownPolicy {
  allowedFails: number;
  windowMs: number;
  cooldownMs: number;
}

export class DeploymentHealth {
  inFlight = 0;
  requests = 0;
  failures = 0;
  /** Moving averages of time to response headers and of whole-attempt latency (undefined until a success). */
  ttfbMs: number | undefined;
  latencyMs: number | undefined;
  /** Until when (ms since epoch) the deployment is out of rotation; 0 when it is in. */
  cooldownUntil = 0;
  cooldowns = 0;
  private recentFails: number[] = [];
  private minute = 0;
  private minuteRequests = 0;
  private minuteTokens = 0;

  begin(now: number): void {
    this.inFlight++;
    this.requests++;
    this.roll(now);
    this.minuteRequests++;
  }

  /** The attempt is over (served, or failed in a way that is the caller's, such as a 400). */
  end(ttfbMs: number | undefined, latencyMs: number): void {
    this.inFlight--;
    if (ttfbMs !== undefined) this.ttfbMs = this.ttfbMs === undefined ? ttfbMs : this.ttfbMs + EWMA_ALPHA * (ttfbMs - this.ttfbMs);
    this.latencyMs = this.latencyMs === undefined ? latencyMs : this.latencyMs + EWMA_ALPHA * (latencyMs - this.latencyMs);
  }

  /** The attempt failed in a way another attempt may not (5xx, 429, timeout, connection): counts toward a cooldown. */
  fail(now: number, policy: CooldownPolicy): void {
    this.inFlight--;
    this.failures++;
    const recent = this.recentFails.filter((t) => now - t < policy.windowMs);
    recent.push(now);
    this.recentFails = recent;
    if (recent.length >= policy.allowedFails) {
      this.cooldownUntil = now + policy.cooldownMs;
      this.cooldowns++;
      this.recentFails = [];
    }
  }

  /** Tokens a served attempt is expected to use, counted against this minute's tpm. */
  addTokens(now: number, tokens: number): void {
    this.roll(now);
    this.minuteTokens += tokens;
  }

  coolingDown(now: number): boolean {
    return this.cooldownUntil > now;
  }

  /** Requests and tokens so far in the current minute. */
  usage(now: number): { requests: number; tokens: number } {
    this.roll(now);
    return { requests: this.minuteRequests, tokens: this.minuteTokens };
  }

  private roll(now: number): void {
    const minute = Math.floor(now / 60_000);
    if (minute === this.minute) return;
    this.minute = minute;
    this.minuteRequests = 0;
    this.minuteTokens = 0;
  }
}
