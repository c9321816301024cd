// Schema checks for the objects in deploy/: Kubernetes built-ins and cert-manager through the
// kubernetes-models packages, KubeVirt objects through KubeVirt's swagger.json.
import { schemaErrors } from './kubevirt-schema.ts';

interface TypedObject {
  apiVersion: string;
  kind: string;
}

const MODEL_PACKAGES: Record<string, string> = {
  'cert-manager.io': '@kubernetes-models/cert-manager/cert-manager.io',
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator/monitoring.coreos.com',
};

/** The schema errors of one object; [] when it validates. Throws for a kind with no schema here. */
export async function objectSchemaErrors(object: TypedObject): Promise<string[]> {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
  if (group === 'kubevirt.io') return schemaErrors(`${version!}.${object.kind}`, object);
  const base = MODEL_PACKAGES[group!] ?? (group ? `kubernetes-models/${group}` : 'kubernetes-models');
  const module = (await import(`${base}/${version!}/${object.kind}`)) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = module[object.kind];
  if (!Model) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}
