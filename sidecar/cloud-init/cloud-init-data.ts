// The two shapes in which virt-launcher hands over cloud-init data: cloudInitData, the JSON of a Go
// struct without JSON tags, and the legacy cloudInitNoCloudSource, a v1.CloudInitNoCloudSource.
import { InvalidInputError } from '../../api/errors.ts';
import type { CloudInitNoCloudSource } from '../../api/kubevirt.ts';
import type { CoalesceCloudConfig } from './coalesce-config.ts';
import { mergeUserData } from './user-data.ts';

/** The Go struct's field names, exactly: it has no JSON tags. */
export interface CloudInitData {
  DataSource?: string;
  NoCloudMetaData?: unknown;
  ConfigDriveMetaData?: unknown;
  UserData?: string;
  NetworkData?: string;
  DevicesData?: unknown;
  VolumeName?: string;
}

function parseObject(text: string, subject: string, field: string): Record<string, unknown> {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(subject, field, text.slice(0, 60), `JSON (${(error as Error).message})`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) throw new InvalidInputError(subject, field, document, 'a JSON object');
  return document as Record<string, unknown>;
}

export function mergeCloudInitData(json: string, ours: CoalesceCloudConfig, subject: string): string {
  const data = parseObject(json, subject, 'cloudInitData') as CloudInitData;
  if (data.UserData !== undefined && typeof data.UserData !== 'string') throw new InvalidInputError(subject, 'cloudInitData.UserData', data.UserData, 'a string');
  return JSON.stringify({ ...data, UserData: mergeUserData(data.UserData ?? '', ours, subject) });
}

export function mergeNoCloudSource(json: string, ours: CoalesceCloudConfig, subject: string): string {
  const source = parseObject(json, subject, 'cloudInitNoCloudSource') as CloudInitNoCloudSource;
  if (source.secretRef !== undefined) return json; // virt-launcher resolves the Secret into cloudInitData.
  if (source.userDataBase64 !== undefined) {
    const userData = Buffer.from(source.userDataBase64, 'base64').toString('utf8');
    return JSON.stringify({ ...source, userDataBase64: Buffer.from(mergeUserData(userData, ours, subject)).toString('base64') });
  }
  return JSON.stringify({ ...source, userData: mergeUserData(source.userData ?? '', ours, subject) });
}
