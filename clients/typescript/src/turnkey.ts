// The idempotency key of one turn start: fresh per start, repeated only on
// the client's own retries of that start (docs/clients.md, Retries).

/** A fresh idempotency key for one turn start (`Idempotency-Key`, or `idempotency_key` in the chat frame). */
export function turnKey(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string; getRandomValues?: <T extends Uint8Array>(a: T) => T } })
    .crypto;
  if (c?.randomUUID) return c.randomUUID();
  // randomUUID needs a secure context (a browser page on plain http has none);
  // getRandomValues does not: 16 random bytes, hex.
  if (c?.getRandomValues) return Array.from(c.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  // No Web Crypto at all (an old runtime): random enough to tell one start from another.
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
}
