/**
 * Errors as the one line `utpx` prints: "utpx: ECONNREFUSED 127.0.0.1:9 (connection refused)".
 * The code comes first, as in net's messages, so scripts and people can match on it.
 */

const DESCRIPTIONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  ETIMEDOUT: 'connection timed out',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  EACCES: 'permission denied',
  ENOENT: 'no such file or directory',
  EISDIR: 'is a directory',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed, try again',
  EAFNOSUPPORT: 'address family not supported',
  ENETUNREACH: 'network unreachable',
  EHOSTUNREACH: 'host unreachable',
};

interface SystemLikeError extends Error {
  code?: unknown;
  address?: unknown;
  port?: unknown;
  path?: unknown;
  hostname?: unknown;
  /** Set by utpx's own errors when none of the above says what failed. */
  subject?: unknown;
}

/** `subject` names what failed when the error does not say (the address being bound, a file). */
export function describeError(err: Error, subject?: string): string {
  const e = err as SystemLikeError;
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (code === undefined) return `utpx: ${err.message}`;
  const what =
    typeof e.subject === 'string'
      ? e.subject
      : typeof e.address === 'string' && typeof e.port === 'number'
        ? `${e.address}:${e.port}`
        : typeof e.path === 'string'
          ? e.path
          : typeof e.hostname === 'string'
            ? e.hostname
            : subject;
  return `utpx: ${code}${what !== undefined ? ` ${what}` : ''} (${DESCRIPTIONS[code] ?? err.message})`;
}
