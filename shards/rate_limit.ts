/** A token bucket as a pure value: refill by elapsed time, then take one. */
export interface Bucket {
  tokens: number;
  at: number;
}

export function newBucket(burst: number, now: number): Bucket {
  return { tokens: burst, at: now };
}

/**
 * Take one token. Returns 0 when allowed, else the ms to wait until a token is
 * available (what the rate_limited error's retry_after_ms tells the client).
 */
export function take(b: Bucket, ratePerSec: number, burst: number, now: number): number {
  const elapsed = Math.max(0, now - b.at);
  b.tokens = Math.min(burst, b.tokens + (elapsed * ratePerSec) / 1000);
  b.at = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return Math.ceil(((1 - b.tokens) * 1000) / ratePerSec);
}
