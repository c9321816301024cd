// Kubernetes quantities with exact arithmetic, and the webhook's config file.
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, parseWebhookConfig } from '../../webhook/config.ts';
import { addQuantities, formatQuantity, multiplyQuantity, parseQuantity, subtractQuantities } from '../../api/quantity.ts';

const q = (text: string) => {
  const quantity = parseQuantity(text);
  if (!quantity) throw new Error(`not a quantity: ${text}`);
  return quantity;
};

describe('quantities', () => {
  it.each([
    ['1Gi', '1Gi'],
    ['1024Mi', '1Gi'],
    ['1.5Gi', '1536Mi'],
    ['2048M', '2048M'],
    ['1e3', '1k'],
    ['1E9', '1G'],
    ['4294967296', '4Gi'],
    ['123', '123'],
    ['0.5', '500m'],
    ['1500m', '1500m'],
    ['0.1m', '1m'],
    ['.5Ki', '512'],
    ['+2Ti', '2Ti'],
    ['0', '0'],
    ['8Ei', '8Ei'],
  ])('reads %s and writes it as %s', (text, written) => {
    expect(formatQuantity(q(text))).toBe(written);
  });

  it.each(['', 'Gi', '1 Gi', '1gi', '1.2.3', '1e', '0x10', '1Gib', 'e3', '1e1000'])('refuses %j', (text) => {
    expect(parseQuantity(text)).toBeUndefined();
  });

  it('adds and multiplies without rounding', () => {
    expect(formatQuantity(addQuantities(q('100m'), q('200m')))).toBe('300m');
    expect(formatQuantity(addQuantities(q('1Gi'), multiplyQuantity(q('1.5G'), 2n)))).toBe('4073741824');
    expect(formatQuantity(subtractQuantities(q('1536Mi'), q('1Gi')))).toBe('512Mi');
    // 2^63 and beyond stay exact with bigints.
    expect(formatQuantity(multiplyQuantity(q('8Ei'), 3n))).toBe('24Ei');
  });
});

describe('webhook config file', () => {
  it('gives the defaults for an empty file', () => {
    expect(parseWebhookConfig('', 'config.yaml')).toEqual({ ...DEFAULT_CONFIG, defaultTuning: {} });
  });

  it('reads every key', () => {
    const config = parseWebhookConfig(
      [
        '# cluster defaults',
        'pluginName: vduse-dpdk',
        'resourceName: example.com/vduse',
        'excludedNamespaces: [kube-system, openshift-cnv]',
        'onLookupFailure: allow',
        'defaultTuning:',
        '  vduse.kubevirt.io/rx-queue-size: 512',
        '  vduse.kubevirt.io/coalesce: adaptive-rx',
      ].join('\n'),
      'config.yaml',
    );
    expect(config).toMatchObject({ pluginName: 'vduse-dpdk', resourceName: 'example.com/vduse', excludedNamespaces: ['kube-system', 'openshift-cnv'], onLookupFailure: 'allow' });
    expect(config.defaultTuning.rxQueueSize).toBe(512);
    expect(config.defaultTuning.coalesce).toBeDefined();
  });

  it.each([
    ['an unknown key', 'pluginname: vduse', 'config.yaml: pluginname: got "an unknown key"; expected one of pluginName'],
    ['a bad plugin name', 'pluginName: VDUSE!', 'config.yaml: pluginName: got "VDUSE!"'],
    ['a bad lookup policy', 'onLookupFailure: maybe', 'onLookupFailure: got "maybe"; expected one of deny, allow'],
    ['excluded namespaces that are not a list', 'excludedNamespaces: kube-system', 'excludedNamespaces'],
    ['a bad tuning value', 'defaultTuning: {vduse.kubevirt.io/queues: 500}', 'annotation vduse.kubevirt.io/queues: got "500"; expected an integer from 1 to 128'],
    ['networks as a cluster default', 'defaultTuning: {vduse.kubevirt.io/networks: net1}', 'defaultTuning.vduse.kubevirt.io/networks: got "an unknown annotation"'],
    ['duplicate keys', 'pluginName: a\npluginName: b', 'config.yaml: YAML'],
    ['a list', '- a', 'expected a mapping of config keys'],
  ])('refuses %s, naming the field', (_title, text, message) => {
    expect(() => parseWebhookConfig(text, 'config.yaml')).toThrow(message);
  });
});
