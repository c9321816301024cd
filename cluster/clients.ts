// The API clients of one cluster, made once from its kubeconfig (cluster/kubeconfig.ts) and shared
// by whoever needs them: the webhook's informers and lookups, doctor, migration-test.
import { AdmissionregistrationV1Api, AppsV1Api, CoreV1Api, CustomObjectsApi, DiscoveryV1Api, Exec, type KubeConfig, VersionApi } from '@kubernetes/client-node';

export class ClusterClients {
  readonly kubeConfig: KubeConfig;
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly apps: AppsV1Api;
  readonly admission: AdmissionregistrationV1Api;
  readonly discovery: DiscoveryV1Api;
  readonly version: VersionApi;
  readonly exec: Exec;

  constructor(kubeConfig: KubeConfig) {
    this.kubeConfig = kubeConfig;
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
    this.admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    this.discovery = kubeConfig.makeApiClient(DiscoveryV1Api);
    this.version = kubeConfig.makeApiClient(VersionApi);
    this.exec = new Exec(kubeConfig);
  }

  /** The API server's address, for messages: "https://10.0.0.1:6443". */
  get server(): string {
    return this.kubeConfig.getCurrentCluster()?.server ?? '(no server in the kubeconfig)';
  }
}
