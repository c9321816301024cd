// The last check before a patch leaves: every operation must stay inside the parts the webhook
// owns. A bug elsewhere then shows up as an error, never as a write to status, managedFields or
// an interface the user did not hand over.
import type { Operation } from 'fast-json-patch';

/** JSON pointers under which the webhook may write. */
export type PatchScope = readonly string[];

const isWithin = (path: string, prefix: string): boolean => path === prefix || path.startsWith(`${prefix}/`);

/** Walks a JSON pointer in a document; undefined when any step is missing. */
function valueAt(document: unknown, pointer: string): unknown {
  let node = document;
  for (const token of pointer.split('/').slice(1)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[token.replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  return node;
}

export class PatchScopeError extends Error {
  override name = 'PatchScopeError';
}

/**
 * Throws unless each operation is inside the scope, or creates a missing parent of it (an "add"
 * of /spec/template/metadata when the template had no metadata).
 */
export function assertPatchInScope(operations: readonly Operation[], scope: PatchScope, original: unknown): void {
  for (const operation of operations) {
    if (scope.some((prefix) => isWithin(operation.path, prefix))) continue;
    const createsParent = operation.op === 'add' && scope.some((prefix) => isWithin(prefix, operation.path)) && valueAt(original, operation.path) === undefined;
    if (!createsParent) {
      throw new PatchScopeError(`refusing to write ${operation.op} ${operation.path}: outside what the webhook may change (${scope.join(', ')})`);
    }
  }
}
