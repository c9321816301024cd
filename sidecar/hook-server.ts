// The gRPC transport: KubeVirt's hook services on a unix socket, calls served one at a time.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidInputError, PreconditionError } from '../api/errors.ts';
import { bindingSubscribesToCloudInit, hookSocketName } from '../api/names.ts';
import type { HookCallbacks } from './callbacks.ts';
import { GrpcError, type GrpcStatusName, listenUnary, type UnaryMethod, type UnaryServer } from './grpc-unary-server.ts';
import { HOOK_POINTS, type HookPointName, HOOK_SERVICES, HOOK_VERSIONS, type HookMessage, type HookMessageInput, type HookVersion } from './hook-protocol.ts';

/** Where the server reports each call: one line per call (cli/json-lines.ts in the sidecar). */
export interface HookLog {
  info(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export interface HookServer {
  socketPath: string;
  /** What Info answers. */
  hookPoints: readonly HookPointName[];
  /** Stops serving and removes the socket. */
  close(): Promise<void>;
}

export interface HookServerOptions {
  socketDir: string;
  pluginName: string;
  callbacks: HookCallbacks;
  log: HookLog;
  /** Called after a Shutdown call has been answered and the server closed. */
  onShutdown: () => void;
}

/**
 * The hook points Info lists. PreCloudInitIso only under the cloud-init binding: virt-launcher
 * panics when a subscriber meets a VMI without cloud-init (see api/names.ts), and the binding name
 * is all the sidecar knows at Info time.
 */
export function subscribedHookPoints(pluginName: string): HookPointName[] {
  return HOOK_POINTS.filter((point) => point !== 'PreCloudInitIso' || bindingSubscribesToCloudInit(pluginName));
}

function grpcStatusOf(error: unknown): GrpcStatusName {
  if (error instanceof InvalidInputError) return 'INVALID_ARGUMENT';
  if (error instanceof PreconditionError) return 'FAILED_PRECONDITION';
  return 'INTERNAL';
}

/** How long calls in progress may finish once the server closes (Shutdown, SIGTERM). */
const CLOSE_GRACE_MS = 500;

export async function startHookServer(options: HookServerOptions): Promise<HookServer> {
  const { callbacks, log } = options;
  const socketPath = join(options.socketDir, hookSocketName(options.pluginName));
  const hookPoints = subscribedHookPoints(options.pluginName);
  let queue: Promise<unknown> = Promise.resolve();

  /** One call at a time: callbacks share device links and KubeVirt calls in sequence anyway. */
  const serial =
    (method: string, version: HookVersion | 'info', work: (request: unknown) => Promise<unknown>) =>
    (request: unknown): Promise<unknown> => {
      const run = async () => {
        const started = performance.now();
        try {
          const response = await work(request);
          log.info({ method, version, ms: Math.round(performance.now() - started) }, 'hook call served');
          return response;
        } catch (error) {
          const code = grpcStatusOf(error);
          const message = error instanceof Error ? error.message : String(error);
          log.error({ method, version, code, ms: Math.round(performance.now() - started) }, message);
          throw new GrpcError(code, message);
        }
      };
      const next = queue.then(run, run);
      queue = next.catch(() => undefined);
      return next;
    };

  /** A method of one of KubeVirt's service definitions (sidecar/hook-protocol.ts), with its handler. */
  const unary = (definition: { path: string; requestDeserialize: (bytes: Buffer) => unknown; responseSerialize: (value: unknown) => Buffer }, handle: (request: unknown) => Promise<unknown>): UnaryMethod => ({
    path: definition.path,
    decode: (bytes) => definition.requestDeserialize(bytes),
    encode: (value) => definition.responseSerialize(value),
    handle,
  });

  let closing: Promise<void> | undefined;
  const listening: { server?: UnaryServer } = {};
  const close = (): Promise<void> => {
    closing ??= (listening.server?.close(CLOSE_GRACE_MS) ?? Promise.resolve()).then(() => rm(socketPath, { force: true }));
    return closing;
  };

  const methods: UnaryMethod[] = [
    unary(HOOK_SERVICES.info.Info!, serial('Info', 'info', () => Promise.resolve({ name: options.pluginName, hookPoints: hookPoints.map((name) => ({ name, priority: 0 })), versions: [...HOOK_VERSIONS] }))),
  ];
  for (const version of HOOK_VERSIONS) {
    const service = HOOK_SERVICES.callbacks[version];
    // Each version's service definition has the callbacks it has: PreCloudInitIso from v1alpha2, Shutdown from v1alpha3.
    if (service.OnDefineDomain) {
      methods.push(
        unary(
          service.OnDefineDomain,
          serial('OnDefineDomain', version, async (request): Promise<HookMessageInput<'OnDefineDomainResult'>> => {
            const params = request as HookMessage<'OnDefineDomainParams'>;
            return { domainXML: Buffer.from(await callbacks.onDefineDomain(params.domainXML, params.vmi)) };
          }),
        ),
      );
    }
    if (service.PreCloudInitIso) {
      methods.push(
        unary(service.PreCloudInitIso, serial('PreCloudInitIso', version, (request): Promise<HookMessageInput<'PreCloudInitIsoResult'>> => callbacks.preCloudInitIso(request as HookMessage<'PreCloudInitIsoParams'>))),
      );
    }
    if (service.Shutdown) {
      methods.push(
        unary(service.Shutdown, () => {
          log.info({ method: 'Shutdown', version }, 'shutting down');
          // Let the answer leave before the server closes.
          setImmediate(() => void close().then(options.onShutdown));
          return Promise.resolve({});
        }),
      );
    }
  }

  await mkdir(options.socketDir, { recursive: true });
  // A socket left by a crashed process would make the bind fail.
  await rm(socketPath, { force: true });
  listening.server = await listenUnary(socketPath, methods);
  return { socketPath, hookPoints, close };
}
