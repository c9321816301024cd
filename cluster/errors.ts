// What went wrong talking to the API server, in words a user can act on. client-node's fetch fails
// with "fetch failed" and the reason only in its cause (ECONNREFUSED, ENOTFOUND, a TLS code): these
// name the reason, so that doctor and the webhook's logs say the same thing.
import { ApiException } from '@kubernetes/client-node';

const TRANSPORT_CAUSES: readonly [RegExp, string][] = [
  [/^ECONNREFUSED$/, 'connection refused'],
  [/^(ENOTFOUND|EAI_AGAIN)$/, 'DNS: the host name does not resolve'],
  [/^(ETIMEDOUT|UND_ERR_CONNECT_TIMEOUT|ECONNABORTED)$/, 'no answer (timed out)'],
  [/^(ECONNRESET|EPIPE|UND_ERR_SOCKET)$/, 'the connection was reset'],
  [/^(EHOSTUNREACH|ENETUNREACH)$/, 'no route to the host'],
  [/^(CERT_|ERR_TLS_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_SSL_)/, 'TLS'],
];

interface CauseLike {
  code?: unknown;
  message?: unknown;
  cause?: unknown;
}

/** The innermost cause with a transport error code, as undici and node:tls set them, and its label. */
function transportCause(error: unknown): { label: string; message: string } | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const { code, message, cause } = current as CauseLike;
    const known = typeof code === 'string' ? TRANSPORT_CAUSES.find(([pattern]) => pattern.test(code)) : undefined;
    if (known) return { label: known[1], message: typeof message === 'string' ? message : (code as string) };
    current = cause;
  }
  return undefined;
}

/** Why the API server could not be reached at all (no HTTP answer), or undefined when it answered. */
export function unreachableReason(error: unknown): string | undefined {
  const cause = transportCause(error);
  return cause === undefined ? undefined : `${cause.label} (${cause.message})`;
}

export function describeError(error: unknown): string {
  if (error instanceof ApiException) return `HTTP ${error.code}`;
  const unreachable = unreachableReason(error);
  if (unreachable !== undefined) return `cannot reach the API server: ${unreachable}`;
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * The message of the Status an API server answered with ("HTTP 500: Internal error occurred:
 * failed calling webhook ..."), for errors whose text is the point; undefined when there is none.
 */
export function statusMessage(error: unknown): string | undefined {
  if (!(error instanceof ApiException)) return undefined;
  const body: unknown = error.body;
  let status: unknown = body;
  if (typeof body === 'string') {
    try {
      status = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const message = typeof status === 'object' && status !== null ? (status as { message?: unknown }).message : undefined;
  return typeof message === 'string' ? `HTTP ${error.code}: ${message}` : undefined;
}

/** A request that must answer within ms, else fails with what it was. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer from the API server within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
