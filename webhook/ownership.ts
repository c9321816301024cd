// What on a VM's template the webhook wrote, as opposed to the user: the defaulted annotation
// lists it, the memlock-overhead annotation says how much overhead was added, and the max-guest
// annotation the maxGuest it set. Values the webhook
// resolved from defaults are not the user's, so they are re-resolved on every admission (a
// Namespace change reaches existing VMs) and removed with the last VDUSE interface.
import type { Memory } from '../api/kubevirt.ts';
import { ANNOTATION_DEFAULTED, ANNOTATION_MAX_GUEST, ANNOTATION_MEMLOCK_OVERHEAD, DEFAULTED_MEMLOCK } from '../api/names.ts';
import { planMemlock } from './memlock.ts';
import { compareQuantities, parseQuantity, quantityField } from '../api/quantity.ts';

/** The names the defaulted annotation lists. */
export function defaultedNames(annotations: Readonly<Record<string, string>> | undefined): Set<string> {
  return new Set((annotations?.[ANNOTATION_DEFAULTED] ?? '').split(',').map((name) => name.trim()).filter(Boolean));
}

/** The template's annotations without the values the webhook defaulted: what the user wrote there. */
export function usersTemplateAnnotations(annotations: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const defaulted = defaultedNames(annotations);
  return Object.fromEntries(Object.entries(annotations ?? {}).filter(([name]) => !defaulted.has(name)));
}

/** Whether the template carries anything the webhook added. */
export function hasWebhookAdditions(annotations: Readonly<Record<string, string>> | undefined): boolean {
  return [ANNOTATION_DEFAULTED, ANNOTATION_MEMLOCK_OVERHEAD, ANNOTATION_MAX_GUEST].some((name) => annotations?.[name] !== undefined);
}

/** Whether maxGuest is the one the webhook set: it still equals what max-guest recorded; else it is the user's. */
export function isWebhooksMaxGuest(subject: string, domainPath: string, recorded: string | undefined, memory: Memory | undefined): boolean {
  if (recorded === undefined || memory?.maxGuest === undefined) return false;
  const mine = parseQuantity(recorded);
  return mine !== undefined && compareQuantities(quantityField(subject, `${domainPath}.memory.maxGuest`, memory.maxGuest), mine) === 0;
}

/** Sets or removes the defaulted annotation, sorted so that a second pass changes nothing. */
export function recordDefaulted(annotations: Record<string, string>, names: readonly string[]): Record<string, string> {
  const rest = Object.fromEntries(Object.entries(annotations).filter(([name]) => name !== ANNOTATION_DEFAULTED));
  return names.length === 0 ? rest : { ...rest, [ANNOTATION_DEFAULTED]: [...names].sort().join(',') };
}

export interface WithoutAdditions {
  annotations: Record<string, string>;
  memory: Memory | undefined;
}

/**
 * The template as the user left it once the last VDUSE interface is gone: the webhook's tuning
 * annotations, its record annotations, its part of addedOverhead and a memLock it set are removed;
 * the user's own values stay.
 */
export function withoutWebhookAdditions(subject: string, domainPath: string, annotations: Readonly<Record<string, string>>, memory: Memory | undefined): WithoutAdditions {
  const defaulted = defaultedNames(annotations);
  const records = new Set([ANNOTATION_DEFAULTED, ANNOTATION_MEMLOCK_OVERHEAD, ANNOTATION_MAX_GUEST]);
  const kept = Object.fromEntries(Object.entries(usersTemplateAnnotations(annotations)).filter(([name]) => !records.has(name)));
  if (memory === undefined) return { annotations: kept, memory };
  // Zero interfaces: what remains of addedOverhead is the user's part alone.
  const plan = planMemlock({ subject, domainPath, domain: { memory, devices: {} }, vdpaInterfaces: 0, previouslyAdded: annotations[ANNOTATION_MEMLOCK_OVERHEAD], annotation: ANNOTATION_MEMLOCK_OVERHEAD });
  const overhead = { ...plan.memory.reservedOverhead };
  const usersMemLock = defaulted.has(DEFAULTED_MEMLOCK) ? undefined : memory.reservedOverhead?.memLock;
  if (usersMemLock === undefined) delete overhead.memLock;
  else overhead.memLock = usersMemLock;
  if (overhead.addedOverhead !== undefined && parseQuantity(String(overhead.addedOverhead))?.numerator === 0n) delete overhead.addedOverhead;
  const rest: Memory = { ...memory };
  if (isWebhooksMaxGuest(subject, domainPath, annotations[ANNOTATION_MAX_GUEST], memory)) delete rest.maxGuest;
  if (Object.keys(overhead).length > 0) rest.reservedOverhead = overhead;
  else delete rest.reservedOverhead;
  return { annotations: kept, memory: Object.keys(rest).length > 0 ? rest : undefined };
}
