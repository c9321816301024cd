// Properties of the admission decision over generated VMs (KubeVirt's example VM with generated
// networks, interfaces, memory, labels and annotations): it always decides, its patch applies
// with an independent RFC 6902 implementation, stays in scope, validates, and is idempotent.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Interface, VirtualMachine } from '../../api/kubevirt.ts';
import { applyIndependently, decideFor, NADS, type Scenario } from '../helpers/admission.ts';
import { FUZZ_RUNS as RUNS, fuzzParameters, reportCases } from '../helpers/fuzz.ts';
import { schemaErrors } from '../helpers/kubevirt-schema.ts';
import { vmWith } from '../helpers/vms.ts';


const maybe = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined });
/** Mostly valid values, sometimes not: both sides of the decision get exercised. */
const mostly = (valid: string[], invalid: string[]) =>
  fc.oneof({ arbitrary: fc.constantFrom(...valid), weight: 6 }, { arbitrary: fc.constantFrom(...invalid), weight: 1 });
const tuningValue = {
  'vduse.kubevirt.io/rx-queue-size': mostly(['256', '512', '1024'], ['300', '2048', '']),
  'vduse.kubevirt.io/tx-queue-size': mostly(['256', '1024'], ['lots']),
  'vduse.kubevirt.io/queues': mostly(['1', '4', 'auto'], ['0', '129']),
  'vduse.kubevirt.io/coalesce': mostly(['off', 'adaptive-rx', 'rx-usecs=64,adaptive-rx', 'tx-frames=32'], ['rx-usecs=-1']),
  'vduse.kubevirt.io/networks': mostly(['default', 'net0', 'net0,net1'], ['nope', 'net1,net1']),
};
const annotations = fc
  .record(
    {
      ...tuningValue,
      'example.com/other': fc.string({ maxLength: 20 }),
      'vduse.kubevirt.io/memlock-overhead': mostly(['1Gi', '0'], ['bogus']),
    },
    { requiredKeys: [] },
  )
  .map((record): Record<string, string> => ({ ...record }));

const interfaceFields: fc.Arbitrary<Partial<Interface>> = fc.record(
  {
    macAddress: fc.constantFrom('02:00:00:00:00:10', '02:00:00:00:00:11'),
    model: mostly(['virtio'], ['e1000e']),
    bootOrder: fc.integer({ min: 1, max: 9 }),
    acpiIndex: fc.integer({ min: 1, max: 9 }),
    binding: fc.constantFrom({ name: 'vduse' }, { name: 'passt' }),
  },
  { requiredKeys: [] },
);

const vmArbitrary = fc
  .record({
    nads: fc.array(fc.constantFrom('ovs-vduse-a', 'ovs-vduse-b', 'sriov-net', 'missing'), { maxLength: 4 }),
    fields: fc.array(interfaceFields, { minLength: 5, maxLength: 5 }),
    labels: maybe(mostly(['true', 'false'], ['maybe'])),
    annotations: maybe(annotations),
    templateAnnotations: maybe(annotations),
    guest: maybe(mostly(['1Gi', '512Mi', '1.5G', '2147483648'], ['bad'])),
    addedOverhead: maybe(fc.constantFrom('256Mi', '0', '1G')),
    withoutCloudInit: fc.boolean(),
  })
  .map((shape) => {
    const names = ['default', ...shape.nads.map((_, index) => `net${index}`)];
    const vm = vmWith({
      multus: Object.fromEntries(shape.nads.map((nad, index) => [`net${index}`, nad])),
      interfaceFields: Object.fromEntries(names.map((name, index) => [name, shape.fields[index]!])),
      labels: shape.labels ? { 'vduse.kubevirt.io/enabled': shape.labels } : undefined,
      annotations: shape.annotations,
      templateAnnotations: shape.templateAnnotations,
      memory: shape.guest === undefined ? null : { guest: shape.guest, ...(shape.addedOverhead ? { reservedOverhead: { addedOverhead: shape.addedOverhead } } : {}) },
      withoutCloudInit: shape.withoutCloudInit,
    });
    // A binding field replaces the masquerade/bridge one: KubeVirt allows one binding method.
    for (const iface of vm.spec.template.spec!.domain.devices.interfaces!) {
      if (iface.binding) {
        delete iface.masquerade;
        delete iface.bridge;
      }
    }
    // As it comes off the wire: no object shared between two places (fast-check reuses constants).
    return JSON.parse(JSON.stringify(vm)) as VirtualMachine;
  });

const scenarioArbitrary: fc.Arbitrary<Scenario> = fc.record({
  namespaceLabels: fc.oneof(
    { arbitrary: fc.constantFrom<Record<string, string>>({}, { 'vduse.kubevirt.io/policy': 'enabled' }, { 'vduse.kubevirt.io/policy': 'disabled' }), weight: 8 },
    { arbitrary: fc.constant({ 'vduse.kubevirt.io/policy': 'on' }), weight: 1 },
  ),
  namespaceAnnotations: fc.oneof(fc.constant({}), annotations),
  nads: fc.constant({ ...NADS }),
  config: fc.constantFrom({}, { onLookupFailure: 'allow' as const }),
});

const SCOPE = ['/spec/template/spec/domain/devices/interfaces/', '/spec/template/metadata/annotations', '/spec/template/spec/domain/memory', '/spec/template/metadata'];

describe('the admission decision, on generated VMs', () => {
  it('always allows with a patch or denies with a message; the patch applies, stays in scope, validates and is idempotent', () => {
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(vmArbitrary, scenarioArbitrary, (vm, scenario) => {
        const decision = decideFor(vm, scenario);
        outcomes.set(decision.outcome, (outcomes.get(decision.outcome) ?? 0) + 1);
        if (!decision.allowed) {
          expect(decision.reason.length).toBeGreaterThan(10);
          expect(decision.patch).toEqual([]);
          return;
        }
        for (const operation of decision.patch) expect(SCOPE.some((prefix) => operation.path.startsWith(prefix)), operation.path).toBe(true);
        const mutated = applyIndependently<VirtualMachine>(vm, decision.patch);
        expect(schemaErrors('v1.VirtualMachine', mutated)).toEqual([]);
        const again = decideFor(mutated, { ...scenario, operation: 'UPDATE' });
        expect(again.allowed).toBe(true);
        expect(again.patch).toEqual([]);
      }),
      fuzzParameters('webhook mutation: decides, applies, in scope, validates, idempotent'),
    );
    reportCases('webhook mutation: decides, applies, in scope, validates, idempotent', Object.fromEntries(outcomes));
    // Not vacuous: the generator reaches both sides.
    expect(outcomes.get('mutated') ?? 0).toBeGreaterThan(RUNS / 50);
    expect(outcomes.get('denied') ?? 0).toBeGreaterThan(RUNS / 50);
  });

  it('never throws on arbitrary JSON in place of the VM', () => {
    const outcomes: Record<string, number> = {};
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const decision = decideFor(value, { namespaceLabels: { 'vduse.kubevirt.io/policy': 'enabled' } });
        expect(typeof decision.allowed).toBe('boolean');
        outcomes[decision.outcome] = (outcomes[decision.outcome] ?? 0) + 1;
      }),
      fuzzParameters('webhook mutation: arbitrary JSON never throws'),
    );
    reportCases('webhook mutation: arbitrary JSON never throws', outcomes);
  });
});
