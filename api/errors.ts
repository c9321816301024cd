/**
 * Bad input from a user, a cluster or KubeVirt. The message always names the object, the field,
 * the value found and what was expected, so it can be shown as-is in an admission denial, a gRPC
 * status or a CLI error.
 */
export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';
  readonly subject: string;
  readonly field: string;
  readonly value: unknown;
  readonly expected: string;

  constructor(subject: string, field: string, value: unknown, expected: string) {
    super(`${subject}: ${field}: ${describeValue(value)}; expected ${expected}`);
    this.subject = subject;
    this.field = field;
    this.value = value;
    this.expected = expected;
  }
}

const MAX_SHOWN_VALUE = 120;

function describeValue(value: unknown): string {
  if (value === undefined) return 'missing';
  const text = typeof value === 'string' ? JSON.stringify(value) : safeStringify(value);
  const shown = text.length > MAX_SHOWN_VALUE ? `${text.slice(0, MAX_SHOWN_VALUE)}…` : text;
  return `got ${shown}`;
}

function safeStringify(value: unknown): string {
  try {
    // JSON.stringify answers undefined for functions and symbols, whatever its declared type says.
    const text = JSON.stringify(value) as string | undefined;
    return typeof text === 'string' ? text : String(value);
  } catch {
    return String(value);
  }
}

/** "VirtualMachineInstance ns/name" — how errors name a Kubernetes object. */
export function describeObject(kind: string, metadata: { namespace?: string; name?: string } | undefined): string {
  const name = metadata?.name ?? '<unnamed>';
  return metadata?.namespace ? `${kind} ${metadata.namespace}/${name}` : `${kind} ${name}`;
}

/**
 * The input is fine but the world is not ready: a device that never appeared, a missing
 * environment variable. The message says what to check.
 */
export class PreconditionError extends Error {
  override readonly name = 'PreconditionError';
}
