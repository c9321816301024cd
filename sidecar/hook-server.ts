// The gRPC transport: KubeVirt's hook services on a unix socket, calls served one at a time.
import { type handleUnaryCall, Server, ServerCredentials, status, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { InvalidInputError, PreconditionError } from '../api/errors.ts';
import { bindingSubscribesToCloudInit, hookSocketName } from '../api/names.ts';
import type { HookCallbacks } from './callbacks.ts';
import { HOOK_POINTS, type HookPointName, HOOK_SERVICES, HOOK_VERSIONS, type HookMessage, type HookMessageInput, type HookVersion } from './hook-protocol.ts';

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
  log: Logger;
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

function grpcStatusOf(error: unknown): status {
  if (error instanceof InvalidInputError) return status.INVALID_ARGUMENT;
  if (error instanceof PreconditionError) return status.FAILED_PRECONDITION;
  return status.INTERNAL;
}

export async function startHookServer(options: HookServerOptions): Promise<HookServer> {
  const { callbacks, log } = options;
  const socketPath = join(options.socketDir, hookSocketName(options.pluginName));
  const hookPoints = subscribedHookPoints(options.pluginName);
  let queue: Promise<unknown> = Promise.resolve();
  const server = new Server();

  /** One call at a time: callbacks share device links and KubeVirt calls in sequence anyway. */
  const serial = <Request, Response>(method: string, version: HookVersion | 'info', work: (request: Request) => Promise<Response>): handleUnaryCall<Request, Response> =>
    (call, respond) => {
      const run = async () => {
        const started = performance.now();
        try {
          const response = await work(call.request);
          log.info({ method, version, ms: Math.round(performance.now() - started) }, 'hook call served');
          respond(null, response);
        } catch (error) {
          const code = grpcStatusOf(error);
          const message = error instanceof Error ? error.message : String(error);
          log.error({ method, version, code: status[code], ms: Math.round(performance.now() - started) }, message);
          respond({ code, details: message });
        }
      };
      const next = queue.then(run, run);
      queue = next;
    };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.tryShutdown(() => resolve());
      // A client that never finishes must not hold the process past KubeVirt's grace period.
      setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 500).unref();
    }).then(() => rm(socketPath, { force: true }));
    return closing;
  };

  server.addService(HOOK_SERVICES.info, {
    Info: serial('Info', 'info', () =>
      Promise.resolve({ name: options.pluginName, hookPoints: hookPoints.map((name) => ({ name, priority: 0 })), versions: [...HOOK_VERSIONS] }),
    ),
  });

  for (const version of HOOK_VERSIONS) {
    // Each version's service definition picks the callbacks it has; grpc-js ignores the rest.
    const implementation: UntypedServiceImplementation = {
      OnDefineDomain: serial<HookMessage<'OnDefineDomainParams'>, HookMessageInput<'OnDefineDomainResult'>>('OnDefineDomain', version, async (request) => ({
        domainXML: Buffer.from(await callbacks.onDefineDomain(request.domainXML, request.vmi)),
      })),
      PreCloudInitIso: serial<HookMessage<'PreCloudInitIsoParams'>, HookMessageInput<'PreCloudInitIsoResult'>>('PreCloudInitIso', version, (request) =>
        callbacks.preCloudInitIso(request),
      ),
      Shutdown: (_call: unknown, respond: (error: null, response: object) => void) => {
        log.info({ method: 'Shutdown', version }, 'shutting down');
        respond(null, {});
        // Let the answer leave before the server closes.
        setImmediate(() => void close().then(options.onShutdown));
      },
    };
    server.addService(HOOK_SERVICES.callbacks[version], implementation);
  }

  await mkdir(options.socketDir, { recursive: true });
  // A socket left by a crashed process would make the bind fail.
  await rm(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix:${socketPath}`, ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve()));
  });
  return { socketPath, hookPoints, close };
}
