// The muxi API version this client speaks, and the comparison with a server's.
// It is not the package's version: it changes only when the API does. Minor
// versions are additive, so only the major has to match; a server that sends
// no version header (API 1.0, before versioning) is accepted.

/** The API version this client speaks (sent as `Muxi-Api-Version`). */
export const API_VERSION = "1.2";
/** Its major: a server answering with another major is refused. */
export const API_MAJOR = 1;
/** The header a client sends and every response of a 1.1+ server carries. */
export const API_VERSION_HEADER = "Muxi-Api-Version";
/** The error code of a refused version. */
export const UNSUPPORTED_API_VERSION = "unsupported_api_version";
/** This package's version (sent in `User-Agent` where the platform lets us). */
export const CLIENT_VERSION = "0.1.0";

/** `"1.1"` -> `[1, 1]`, `"1"` -> `[1, 0]`; throws a `RangeError` for anything else. */
export function parseApiVersion(value: string): [number, number] {
  const m = /^\s*(\d{1,6})(?:\.(\d{1,6}))?\s*$/.exec(value);
  if (!m) {
    throw new RangeError(`not an API version: ${JSON.stringify(value)} (expected MAJOR.MINOR, e.g. 1.1)`);
  }
  return [Number(m[1]), m[2] === undefined ? 0 : Number(m[2])];
}

/** True when a peer speaking `value` understands this client (same major). */
export function compatibleApiVersion(value: string): boolean {
  try {
    return parseApiVersion(value)[0] === API_MAJOR;
  } catch {
    return false;
  }
}

/**
 * True when a server speaking `value` (none: 1.0) keeps turn starts' idempotency keys (1.2):
 * an older one ignores a key, so a resend of a start it may have read would run the turn again.
 */
export function keepsTurnKeys(value: unknown): boolean {
  try {
    const [major, minor] = parseApiVersion(String(value ?? ""));
    return major > 1 || (major === 1 && minor >= 2);
  } catch {
    return false;
  }
}
