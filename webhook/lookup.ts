// What the cluster said about an object the decision depends on: the I/O layer fills these in
// (informer cache, then a GET), the pure mutation reads them.

export type Lookup<T> = { state: 'found'; value: T } | { state: 'absent' } | { state: 'failed'; reason: string };

/** Labels and annotations: all the webhook reads of a Namespace. */
export interface NamespaceFacts {
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
}

/** The device-plugin resource behind a NetworkAttachmentDefinition, when it names one. */
export interface NadFacts {
  resourceName: string | undefined;
}

export const found = <T>(value: T): Lookup<T> => ({ state: 'found', value });
export const ABSENT: Lookup<never> = { state: 'absent' };
export const failed = (reason: string): Lookup<never> => ({ state: 'failed', reason });

/** "namespace/name", the key a Multus networkName resolves to. */
export function nadKey(networkName: string, objectNamespace: string): string {
  return networkName.includes('/') ? networkName : `${objectNamespace}/${networkName}`;
}
