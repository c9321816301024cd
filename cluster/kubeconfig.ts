// Cluster access for the commands that need it (webhook, doctor): one place that loads the
// kubeconfig. The sidecar never imports cluster/.
import { KubeConfig } from '@kubernetes/client-node';
import { accessSync, constants } from 'node:fs';
import { InvalidInputError } from '../api/errors.ts';

/** From --kubeconfig, else the pod's service account; a clear error when neither is there. */
export function kubeConfigFrom(path: string | undefined): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (path) {
    try {
      accessSync(path, constants.R_OK);
    } catch (error) {
      throw new InvalidInputError('arguments', '--kubeconfig', path, `a readable file (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
    kubeConfig.loadFromFile(path);
  } else if (process.env.KUBERNETES_SERVICE_HOST) {
    kubeConfig.loadFromCluster();
  } else {
    throw new InvalidInputError('arguments', '--kubeconfig', undefined, 'a kubeconfig file when not running in a pod (KUBERNETES_SERVICE_HOST is not set)');
  }
  return kubeConfig;
}
