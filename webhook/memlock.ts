// vDPA pins guest memory: the overhead to add is api/memlock.ts's, on top of what KubeVirt's own
// accounting (reservedOverhead.memLock: Required) already covers.
import { InvalidInputError } from '../api/errors.ts';
import { memlockOverheadBytes } from '../api/memlock.ts';
import type { Memory, ReservedOverhead, ResourceRequirements } from '../api/kubevirt.ts';
import {
  addQuantities,
  compareQuantities,
  formatQuantity,
  isNegative,
  parseQuantity,
  type Quantity,
  QUANTITY_EXPECTED,
  quantityOf,
  wholeBytes,
  subtractQuantities,
} from '../api/quantity.ts';

export const MEMLOCK_REQUIRED = 'Required';

export interface MemlockInput {
  subject: string;
  /** Where the domain is, for error messages: "spec.template.spec.domain" or "spec.domain". */
  domainPath: string;
  memory: Memory | undefined;
  resources: ResourceRequirements | undefined;
  vdpaInterfaces: number;
  /** The guest memory an instancetype supplies; KubeVirt refuses memory.guest beside an instancetype. */
  instancetypeGuest?: string | undefined;
  /** What an earlier admission added, from the memlock-overhead annotation. */
  previouslyAdded: string | undefined;
  /** The annotation's name, for error messages. */
  annotation: string;
}

export type MemlockPlan =
  | { kind: 'sized'; memory: Memory; added: string }
  /** Guest memory comes from elsewhere (an instancetype): memLock is set, the overhead cannot be. */
  | { kind: 'unsized'; memory: Memory; missingField: string };

function quantityField(subject: string, field: string, text: unknown): Quantity {
  const quantity = typeof text === 'string' ? parseQuantity(text) : typeof text === 'number' ? parseQuantity(String(text)) : undefined;
  if (quantity === undefined || isNegative(quantity)) throw new InvalidInputError(subject, field, text, `${QUANTITY_EXPECTED}, not negative`);
  return quantity;
}

export function planMemlock(input: MemlockInput): MemlockPlan {
  const { subject, domainPath } = input;
  const overhead: ReservedOverhead = { ...input.memory?.reservedOverhead, memLock: MEMLOCK_REQUIRED };
  const memory: Memory = { ...input.memory, reservedOverhead: overhead };

  const guestText = input.instancetypeGuest ?? memory.guest ?? input.resources?.requests?.memory;
  if (guestText === undefined) return { kind: 'unsized', memory, missingField: `${domainPath}.memory.guest` };
  const guestField = input.instancetypeGuest !== undefined ? 'the instancetype\'s spec.memory.guest' : memory.guest !== undefined ? `${domainPath}.memory.guest` : `${domainPath}.resources.requests.memory`;
  const guest = quantityField(subject, guestField, guestText);

  const current =
    overhead.addedOverhead === undefined ? quantityOf(0n) : quantityField(subject, `${domainPath}.memory.reservedOverhead.addedOverhead`, overhead.addedOverhead);
  const previous = input.previouslyAdded === undefined ? quantityOf(0n) : quantityField(subject, `annotation ${input.annotation}`, input.previouslyAdded);
  // Someone lowered addedOverhead below what was recorded: all of what is there is theirs.
  const usersPart = compareQuantities(current, previous) >= 0 ? subtractQuantities(current, previous) : current;

  const wanted = quantityOf(memlockOverheadBytes(input.vdpaInterfaces, wholeBytes(guest)));
  const total = addQuantities(usersPart, wanted);
  // Numerically equal keeps the user's spelling ("1024Mi" stays), so a second pass changes nothing.
  if (compareQuantities(total, current) !== 0) overhead.addedOverhead = formatQuantity(total);
  return { kind: 'sized', memory, added: formatQuantity(wanted) };
}
