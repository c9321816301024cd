// vDPA pins guest memory: libvirt sets the locked-memory limit to N x guest RAM + 1 GiB for N vdpa
// interfaces. KubeVirt's own accounting (reservedOverhead.memLock: Required) already covers one
// guest RAM; addedOverhead must bring the rest: 1 GiB + (N - 1) x guest RAM.
import { InvalidInputError } from '../api/errors.ts';
import type { Memory, ReservedOverhead, ResourceRequirements } from '../api/kubevirt.ts';
import {
  addQuantities,
  compareQuantities,
  formatQuantity,
  GiB,
  isNegative,
  multiplyQuantity,
  parseQuantity,
  type Quantity,
  QUANTITY_EXPECTED,
  quantityOf,
  subtractQuantities,
} from './quantity.ts';

export const MEMLOCK_REQUIRED = 'Required';

export interface MemlockInput {
  subject: string;
  /** Where the domain is, for error messages: "spec.template.spec.domain" or "spec.domain". */
  domainPath: string;
  memory: Memory | undefined;
  resources: ResourceRequirements | undefined;
  vdpaInterfaces: number;
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

  const guestText = memory.guest ?? input.resources?.requests?.memory;
  if (guestText === undefined) return { kind: 'unsized', memory, missingField: `${domainPath}.memory.guest` };
  const guest = quantityField(subject, memory.guest !== undefined ? `${domainPath}.memory.guest` : `${domainPath}.resources.requests.memory`, guestText);

  const current =
    overhead.addedOverhead === undefined ? quantityOf(0n) : quantityField(subject, `${domainPath}.memory.reservedOverhead.addedOverhead`, overhead.addedOverhead);
  const previous = input.previouslyAdded === undefined ? quantityOf(0n) : quantityField(subject, `annotation ${input.annotation}`, input.previouslyAdded);
  // Someone lowered addedOverhead below what was recorded: all of what is there is theirs.
  const usersPart = compareQuantities(current, previous) >= 0 ? subtractQuantities(current, previous) : current;

  const wanted = input.vdpaInterfaces === 0 ? quantityOf(0n) : addQuantities(GiB, multiplyQuantity(guest, BigInt(input.vdpaInterfaces - 1)));
  const total = addQuantities(usersPart, wanted);
  // Numerically equal keeps the user's spelling ("1024Mi" stays), so a second pass changes nothing.
  if (compareQuantities(total, current) !== 0) overhead.addedOverhead = formatQuantity(total);
  return { kind: 'sized', memory, added: formatQuantity(wanted) };
}
