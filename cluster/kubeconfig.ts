// Cluster access for the commands that need it (webhook, doctor, migration-test): one place that
// finds the kubeconfig, as kubectl does. The sidecar never imports cluster/.
import { KubeConfig } from '@kubernetes/client-node';
import { accessSync, constants, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { InvalidInputError } from '../api/errors.ts';

function readable(path: string, field: string): void {
  try {
    accessSync(path, constants.R_OK);
  } catch (error) {
    throw new InvalidInputError('arguments', field, path, `a readable kubeconfig file (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

/**
 * The kubeconfig, in kubectl's order: --kubeconfig FILE; else $KUBECONFIG (a list of files, merged,
 * the first one's current context); else ~/.kube/config; else the pod's service account. A clear
 * error names what was tried when none is there.
 */
export function kubeConfigFrom(path: string | undefined, environment: NodeJS.ProcessEnv = process.env, home: string = homedir()): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (path) {
    readable(path, '--kubeconfig');
    kubeConfig.loadFromFile(path);
    return kubeConfig;
  }
  if (environment.KUBECONFIG) {
    // kubectl skips files of the list that do not exist, and fails only when none does.
    const files = environment.KUBECONFIG.split(delimiter).filter((file) => file !== '' && existsSync(file));
    if (files.length === 0) throw new InvalidInputError('environment', '$KUBECONFIG', environment.KUBECONFIG, 'one or more kubeconfig files, separated by ":"; none of these exists');
    files.forEach((file) => readable(file, '$KUBECONFIG'));
    const [first, ...rest] = files;
    kubeConfig.loadFromFile(first!);
    for (const file of rest) {
      const more = new KubeConfig();
      more.loadFromFile(file);
      kubeConfig.mergeConfig(more);
    }
    return kubeConfig;
  }
  const userConfig = join(home, '.kube', 'config');
  if (existsSync(userConfig)) {
    readable(userConfig, '~/.kube/config');
    kubeConfig.loadFromFile(userConfig);
    return kubeConfig;
  }
  if (environment.KUBERNETES_SERVICE_HOST) {
    kubeConfig.loadFromCluster();
    return kubeConfig;
  }
  throw new InvalidInputError(
    'arguments',
    '--kubeconfig',
    undefined,
    `a kubeconfig: --kubeconfig FILE, else $KUBECONFIG, else ${userConfig}, else a pod's service account; none of them is there`,
  );
}
