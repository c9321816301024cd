// Plays virt-launcher: starts the real sidecar process and calls it over its unix socket, with
// stubs built from the project's .proto files by proto-loader.
import { credentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectFile } from './fixtures.ts';
import { protoClients } from './hook-protos.ts';
import { DEFAULT_BINDING_PLUGIN_NAME, hookSocketName } from '../../api/names.ts';

type Unary = (request: object, options: { deadline: number }, callback: (error: ServiceError | null, response: Record<string, Buffer>) => void) => void;

/** One unary call on a stub made from the project's protos, as a promise. */
export function unaryCall(client: Client, method: string, request: object, deadlineMs = 60_000): Promise<Record<string, Buffer>> {
  const stub = client as unknown as Record<string, Unary>;
  return new Promise((resolve, reject) => {
    stub[method]!.call(stub, request, { deadline: Date.now() + deadlineMs }, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

export interface SidecarProcess {
  process: ChildProcess;
  socketPath: string;
  stderr: () => string;
  exited: Promise<number | null>;
  call(service: 'info' | 'v1alpha1' | 'v1alpha2' | 'v1alpha3', method: string, request: object, deadlineMs?: number): Promise<Record<string, Buffer>>;
  stop(): Promise<void>;
}

export async function startSidecar(socketDir: string, args: string[] = [], env: Record<string, string> = {}): Promise<SidecarProcess> {
  const child = spawn(process.execPath, [projectFile('cli', 'main.ts'), 'sidecar', '--socket-dir', socketDir, ...args], {
    env: { ...process.env, CONTAINER_NAME: 'hook-sidecar-0', NETWORK_BINDING_PLUGIN_NAME: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // The binding the sidecar serves names its socket: $NETWORK_BINDING_PLUGIN_NAME, else --binding-name, else vduse.
  const flag = args.indexOf('--binding-name');
  const bindingName = env.NETWORK_BINDING_PLUGIN_NAME || (flag >= 0 ? args[flag + 1] : undefined) || DEFAULT_BINDING_PLUGIN_NAME;
  const socketPath = join(socketDir, hookSocketName(bindingName));
  // The socket file alone proves nothing: a crashed predecessor may have left it.
  for (let waited = 0; !existsSync(socketPath) || !stderr.includes('"msg":"serving"'); waited += 20) {
    if (waited > 10_000 || child.exitCode !== null) throw new Error(`sidecar did not create ${socketPath}: ${stderr}`);
    await sleep(20);
  }
  const constructors = protoClients();
  const clients = new Map<string, Client>();
  const client = (service: keyof typeof constructors): Client => {
    let existing = clients.get(service);
    if (!existing) {
      existing = new constructors[service](`unix:${socketPath}`, credentials.createInsecure());
      clients.set(service, existing);
    }
    return existing;
  };
  return {
    process: child,
    socketPath,
    stderr: () => stderr,
    exited,
    call(service, method, request, deadlineMs) {
      return unaryCall(client(service), method, request, deadlineMs);
    },
    async stop() {
      for (const existing of clients.values()) existing.close();
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
