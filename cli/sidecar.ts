// kubevirt-vduse sidecar, and the sidecar-shim entry points onDefineDomain and preCloudInitIso.
import {
  DEFAULT_BINDING_PLUGIN_NAME,
  DEFAULT_HOOK_SOCKET_DIR,
  DEFAULT_NETWORK_INFO_PATH,
  DEFAULT_NETWORK_INFO_TIMEOUT_SECONDS,
} from '../api/names.ts';
import { HookCallbacks, type SidecarConfig } from '../sidecar/callbacks.ts';
import { startHookServer } from '../sidecar/hook-server.ts';
import { jsonLineLogger } from './json-lines.ts';
import { type Command, durationOption, EXIT_OK, type OptionSpec, type OptionValues, stringOption } from './command.ts';

const sharedOptions: Record<string, OptionSpec> = {
  'socket-dir': { type: 'string', placeholder: 'DIR', default: DEFAULT_HOOK_SOCKET_DIR, description: 'where the hook socket and the device links live' },
  'network-info': { type: 'string', placeholder: 'FILE', default: DEFAULT_NETWORK_INFO_PATH, description: 'the downward-API network-info file' },
  'network-info-timeout': {
    type: 'string',
    placeholder: 'DURATION',
    default: String(DEFAULT_NETWORK_INFO_TIMEOUT_SECONDS),
    description: 'how long to wait for network-info to list the devices (seconds; "s" or "ms" suffix accepted)',
  },
  'binding-name': {
    type: 'string',
    placeholder: 'NAME',
    description: `the network binding plugin name; $NETWORK_BINDING_PLUGIN_NAME wins over it (default: ${DEFAULT_BINDING_PLUGIN_NAME})`,
  },
};

function sidecarConfig(values: OptionValues, annotationHook: boolean): SidecarConfig {
  const flag = values['binding-name'];
  return {
    bindingName: process.env.NETWORK_BINDING_PLUGIN_NAME || (typeof flag === 'string' && flag) || DEFAULT_BINDING_PLUGIN_NAME,
    socketDir: stringOption(values, 'socket-dir'),
    containerName: process.env.CONTAINER_NAME ?? '',
    networkInfoPath: stringOption(values, 'network-info'),
    networkInfoTimeoutMs: durationOption(values, 'network-info-timeout'),
    annotationHook,
  };
}

export const sidecarCommand: Command = {
  name: 'sidecar',
  description:
    'Listens on <socket-dir>/<binding>.sock (vduse.sock, vduse-cloudinit.sock). OnDefineDomain turns the interfaces bound to the plugin into\n' +
    '<interface type="vdpa">; Shutdown (or SIGTERM) exits 0.\n' +
    'PreCloudInitIso (guest coalescing through cloud-init) is subscribed only when the binding name ends in\n' +
    '"-cloudinit" (vduse-cloudinit): virt-launcher crashes when a subscriber meets a VMI without cloud-init,\n' +
    'so the webhook picks that binding only for VMs with a cloud-init volume.\n' +
    'Environment (set by KubeVirt): CONTAINER_NAME names this container to the compute container;\n' +
    'NETWORK_BINDING_PLUGIN_NAME is the binding this sidecar serves.',
  options: {
    ...sharedOptions,
    'annotation-hook': {
      type: 'boolean',
      description: `also convert the networks named in vduse.kubevirt.io/networks, for sidecars run through hooks.kubevirt.io/hookSidecars`,
    },
  },
  async run(values) {
    const config = sidecarConfig(values, values['annotation-hook'] === true);
    const log = jsonLineLogger({ component: 'sidecar' });
    if (!config.containerName) log.warn('CONTAINER_NAME is not set: OnDefineDomain will fail until it is');
    const callbacks = new HookCallbacks(config);
    let exit: () => void = () => undefined;
    const exited = new Promise<void>((resolve) => (exit = resolve));
    const server = await startHookServer({ socketDir: config.socketDir, pluginName: config.bindingName, callbacks, log, onShutdown: exit });
    const onSignal = (signal: string) => {
      log.info({ signal }, 'shutting down');
      void server.close().then(exit);
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    log.info({ socket: server.socketPath, plugin: config.bindingName, hookPoints: server.hookPoints }, 'serving');
    await exited;
    return EXIT_OK;
  },
};

export const onDefineDomainCommand: Command = {
  name: 'onDefineDomain',
  options: {
    vmi: { type: 'string', placeholder: 'JSON', required: true, description: 'the VMI as JSON text' },
    domain: { type: 'string', placeholder: 'XML', required: true, description: 'the domain XML text' },
    ...sharedOptions,
  },
  async run(values) {
    const callbacks = new HookCallbacks(sidecarConfig(values, true));
    process.stdout.write(await callbacks.onDefineDomain(stringOption(values, 'domain'), stringOption(values, 'vmi')));
    return EXIT_OK;
  },
};

export const preCloudInitIsoCommand: Command = {
  name: 'preCloudInitIso',
  options: {
    vmi: { type: 'string', placeholder: 'JSON', required: true, description: 'the VMI as JSON text' },
    'cloud-init': { type: 'string', placeholder: 'JSON', required: true, description: "virt-launcher's cloudInitData JSON" },
    ...sharedOptions,
  },
  async run(values) {
    const callbacks = new HookCallbacks(sidecarConfig(values, true));
    const result = await callbacks.preCloudInitIso({
      vmi: Buffer.from(stringOption(values, 'vmi')),
      cloudInitData: Buffer.from(stringOption(values, 'cloud-init')),
      cloudInitNoCloudSource: Buffer.alloc(0),
    });
    process.stdout.write(result.cloudInitData.toString());
    return EXIT_OK;
  },
};
