import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COALESCE_OFF, coalesceEthtoolArguments, formatCoalesce, isCoalesceOff, parseCoalesce } from '../../api/coalesce.ts';
import { InvalidInputError } from '../../api/errors.ts';
import {
  ANNOTATION_COALESCE,
  ANNOTATION_MEMORY_HOTPLUG,
  ANNOTATION_NETWORKS,
  ANNOTATION_QUEUES,
  ANNOTATION_RX_QUEUE_SIZE,
  ANNOTATION_TX_QUEUE_SIZE,
} from '../../api/names.ts';
import { resolveTuning } from '../../api/resolve.ts';
import {
  BUILT_IN_TUNING,
  formatTuningAnnotations,
  formatTuningValue,
  parseTuningAnnotations,
  parseTuningValue,
  TUNING_KEYS,
  type TuningKey,
} from '../../api/tuning.ts';
import { projectFile } from '../helpers/fixtures.ts';

const SUBJECT = 'VirtualMachine ns/vm';

describe('annotation names', () => {
  it('are the ones docs/design.md lists', () => {
    const names = [ANNOTATION_NETWORKS, ANNOTATION_RX_QUEUE_SIZE, ANNOTATION_TX_QUEUE_SIZE, ANNOTATION_QUEUES, ANNOTATION_COALESCE];
    const design = readFileSync(projectFile('docs', 'design.md'), 'utf8');
    for (const name of names) expect(design, name).toContain(`\`${name}\``);
    expect(names).toEqual([
      'vduse.kubevirt.io/networks',
      'vduse.kubevirt.io/rx-queue-size',
      'vduse.kubevirt.io/tx-queue-size',
      'vduse.kubevirt.io/queues',
      'vduse.kubevirt.io/coalesce',
    ]);
  });
});

describe('built-in defaults', () => {
  it('are 1024-descriptor rings, one queue pair, coalescing off, NAD-chosen networks and memory-hotplug auto', () => {
    expect(BUILT_IN_TUNING).toEqual({ rxQueueSize: 1024, txQueueSize: 1024, queues: 1, coalesce: COALESCE_OFF, networks: undefined, memoryHotplug: 'auto' });
  });
});

describe('queue sizes', () => {
  it.each(['256', '512', '1024', ' 512 '])('accepts %j', (text) => {
    expect(parseTuningValue('rxQueueSize', text, SUBJECT)).toBe(Number(text));
    expect(parseTuningValue('txQueueSize', text, SUBJECT)).toBe(Number(text));
  });
  it.each(['128', '2048', '300', '0', '-256', '1e3', '0x100', '', 'big', '1024.0', '00256'])('refuses %j naming annotation, value and range', (text) => {
    expect(() => parseTuningValue('rxQueueSize', text, SUBJECT)).toThrow(
      `${SUBJECT}: annotation vduse.kubevirt.io/rx-queue-size: got ${JSON.stringify(text)}; expected a power of two from 256 to 1024 (256, 512 or 1024)`,
    );
  });
});

describe('queues', () => {
  it.each([['1', 1], ['4', 4], ['128', 128], ['auto', 'auto']])('accepts %j', (text, value) => {
    expect(parseTuningValue('queues', text, SUBJECT)).toBe(value);
  });
  it.each(['0', '129', '01', 'AUTO', '1.5', '', '-1'])('refuses %j', (text) => {
    expect(() => parseTuningValue('queues', text, SUBJECT)).toThrow(/annotation vduse\.kubevirt\.io\/queues: .*expected an integer from 1 to 128, or "auto"/);
  });
});

describe('coalesce', () => {
  it.each([
    ['off', { adaptiveRx: false, values: {} }],
    ['adaptive-rx', { adaptiveRx: true, values: {} }],
    ['rx-usecs=64', { adaptiveRx: false, values: { 'rx-usecs': 64 } }],
    ['tx-frames=8,adaptive-rx, rx-usecs=0', { adaptiveRx: true, values: { 'tx-frames': 8, 'rx-usecs': 0 } }],
    ['rx-usecs=1,rx-frames=2,tx-usecs=3,tx-frames=4294967295', { adaptiveRx: false, values: { 'rx-usecs': 1, 'rx-frames': 2, 'tx-usecs': 3, 'tx-frames': 4294967295 } }],
  ])('parses %j', (text, expected) => {
    expect(parseCoalesce(text)).toEqual(expected);
  });
  it.each([
    ['', '""', 'expected "off", "adaptive-rx", or a comma list of rx-usecs=N'],
    ['on', '"on"', 'expected off, adaptive-rx, or KEY=N (did you mean off?)'],
    ['off,adaptive-rx', '"off"', 'expected "off" alone, not beside other settings'],
    ['adaptive-rx,adaptive-rx', '"adaptive-rx"', 'expected each setting at most once, and adaptive-rx is already there'],
    ['rx-usecs=1,rx-usecs=2', '"rx-usecs=2"', 'expected each setting at most once, and rx-usecs=1 is already there'],
    ['rx-usecs=', '"rx-usecs="', 'expected rx-usecs=N with N a whole number from 0 to 4294967295'],
    ['tx-frames=8,rx-usecs=-5', '"rx-usecs=-5"', 'expected rx-usecs=N with N a whole number from 0 to 4294967295'],
    ['rx-usecs=4294967296', '"rx-usecs=4294967296"', 'expected rx-usecs=N with N a whole number from 0 to 4294967295'],
    ['adaptive-tx', '"adaptive-tx"', 'expected off, adaptive-rx, or KEY=N (did you mean adaptive-rx?)'],
    ['rx_usecs=3', '"rx_usecs=3"', 'expected one of rx-usecs, rx-frames, tx-usecs, tx-frames before "=" (did you mean rx-usecs?)'],
    ['rx-usecs=8,tx-frame=3', '"tx-frame=3"', 'expected one of rx-usecs, rx-frames, tx-usecs, tx-frames before "=" (did you mean tx-frames?)'],
    ['rx-usecs=1,', '""', 'expected a setting between each two commas'],
  ])('refuses %j, naming the item that is wrong and what it should be', (text, item, expected) => {
    expect(parseCoalesce(text)).toBeUndefined();
    expect(() => parseTuningValue('coalesce', text, SUBJECT)).toThrow(`${SUBJECT}: annotation vduse.kubevirt.io/coalesce: got ${item}; ${expected}`);
  });
  it('formats canonically, in a fixed key order', () => {
    expect(formatCoalesce(parseCoalesce('tx-frames=8, rx-usecs=64 ,adaptive-rx')!)).toBe('adaptive-rx,rx-usecs=64,tx-frames=8');
    expect(formatCoalesce(COALESCE_OFF)).toBe('off');
    expect(isCoalesceOff(parseCoalesce('rx-usecs=0')!)).toBe(false);
  });
  it('turns into ethtool -C arguments', () => {
    expect(coalesceEthtoolArguments(parseCoalesce('rx-frames=32,adaptive-rx,tx-usecs=10')!)).toEqual([
      'adaptive-rx', 'on', 'rx-frames', '32', 'tx-usecs', '10',
    ]);
    expect(coalesceEthtoolArguments(COALESCE_OFF)).toEqual([]);
  });
});

describe('networks', () => {
  it('parses a comma list, trimming spaces', () => {
    expect(parseTuningValue('networks', 'net1, dataplane ,default', SUBJECT)).toEqual(['net1', 'dataplane', 'default']);
  });
  it.each(['', 'net1,,net2', 'net1,net1', 'has space', '-lead', 'a'.repeat(64), 'net/1'])('refuses %j', (text) => {
    expect(() => parseTuningValue('networks', text, SUBJECT)).toThrow(InvalidInputError);
  });
});

describe('memory-hotplug', () => {
  it.each(['Auto', 'off', '', 'keep,auto'])('refuses %j, naming both policies', (text) => {
    expect(() => parseTuningValue('memoryHotplug', text, SUBJECT)).toThrow('expected "auto" (no memory hotplug for a VM with two or more VDUSE interfaces, unless it sets maxGuest) or "keep"');
  });
});

describe('round trip: format(parse(x)) is canonical and parse(format(v)) = v', () => {
  const samples: Record<TuningKey, string[]> = {
    rxQueueSize: ['256', '512', '1024'],
    txQueueSize: ['256', '1024'],
    queues: ['1', '7', '128', 'auto'],
    coalesce: ['off', 'adaptive-rx', 'adaptive-rx,rx-usecs=64', 'rx-usecs=1,rx-frames=2,tx-usecs=3,tx-frames=4'],
    networks: ['net1', 'net1,net2,default'],
    memoryHotplug: ['auto', 'keep'],
  };
  for (const key of TUNING_KEYS) {
    it.each(samples[key])(`${key}: %j`, (text) => {
      const value = parseTuningValue(key, text, SUBJECT);
      const formatted = formatTuningValue(key, value);
      expect(formatted).toBe(text);
      expect(parseTuningValue(key, formatted, SUBJECT)).toEqual(value);
    });
  }
  it('covers every field of the schema', () => {
    expect(Object.keys(samples).sort()).toEqual([...TUNING_KEYS].sort());
  });
});

describe('annotations', () => {
  it('reads only the annotations present and ignores unrelated ones', () => {
    expect(parseTuningAnnotations({ [ANNOTATION_QUEUES]: '2', 'other.io/x': 'y' }, SUBJECT)).toEqual({ queues: 2 });
    expect(parseTuningAnnotations(undefined, SUBJECT)).toEqual({});
  });
  it('names the offending annotation', () => {
    expect(() => parseTuningAnnotations({ [ANNOTATION_QUEUES]: '2', [ANNOTATION_TX_QUEUE_SIZE]: '4096' }, SUBJECT)).toThrow(
      'annotation vduse.kubevirt.io/tx-queue-size: got "4096"',
    );
  });
  it('formats a resolved tuning back into annotations that parse to the same tuning', () => {
    const tuning = { ...BUILT_IN_TUNING, queues: 'auto' as const, networks: ['net1'], coalesce: parseCoalesce('adaptive-rx')! };
    const annotations = formatTuningAnnotations(tuning);
    expect(annotations).toEqual({
      [ANNOTATION_RX_QUEUE_SIZE]: '1024',
      [ANNOTATION_TX_QUEUE_SIZE]: '1024',
      [ANNOTATION_QUEUES]: 'auto',
      [ANNOTATION_COALESCE]: 'adaptive-rx',
      [ANNOTATION_NETWORKS]: 'net1',
      [ANNOTATION_MEMORY_HOTPLUG]: 'auto',
    });
    expect({ ...BUILT_IN_TUNING, ...parseTuningAnnotations(annotations, SUBJECT) }).toEqual(tuning);
    expect(formatTuningAnnotations(BUILT_IN_TUNING)).not.toHaveProperty(ANNOTATION_NETWORKS);
  });
});

describe('resolution', () => {
  it('uses built-in defaults when nothing is set', () => {
    const resolved = resolveTuning({});
    expect(resolved.tuning).toEqual(BUILT_IN_TUNING);
    expect(new Set(Object.values(resolved.sources))).toEqual(new Set(['built-in']));
  });
  it('applies cluster, then namespace, then VM, and says where each value came from', () => {
    const resolved = resolveTuning({
      cluster: { rxQueueSize: 512, txQueueSize: 512, queues: 2 },
      namespace: { txQueueSize: 256, queues: 4 },
      vm: { queues: 8 },
    });
    expect(resolved.tuning).toMatchObject({ rxQueueSize: 512, txQueueSize: 256, queues: 8, networks: undefined });
    expect(resolved.sources).toEqual({ rxQueueSize: 'cluster', txQueueSize: 'namespace', queues: 'vm', coalesce: 'built-in', networks: 'built-in', memoryHotplug: 'built-in' });
  });
  it('does not let an absent value in a higher layer erase a lower one', () => {
    expect(resolveTuning({ namespace: { networks: ['a'] }, vm: { networks: undefined } }).tuning.networks).toEqual(['a']);
  });
});
