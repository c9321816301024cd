// AdmissionReview admission.k8s.io/v1: what the API server sends, checked before anything reads
// it, and the response it expects back.
import type { Operation } from 'fast-json-patch';
import { isObject } from '../api/json.ts';
import type { Decision } from './mutation.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  operation: string;
  namespace: string;
  name: string;
  dryRun: boolean;
  object: unknown;
  /** What is stored now, on an UPDATE: what the user changed is the difference. */
  oldObject?: unknown;
}

/** Not an AdmissionReview the webhook can answer: the HTTP status is 400 and the message says why. */
export class MalformedReviewError extends Error {
  override name = 'MalformedReviewError';
}

export function parseAdmissionReview(body: unknown): AdmissionRequest {
  const fail = (field: string, value: unknown, expected: string): never => {
    const shown = value === undefined ? 'missing' : `got ${JSON.stringify(value).slice(0, 80)}`;
    throw new MalformedReviewError(`AdmissionReview: ${field}: ${shown}; expected ${expected}`);
  };
  if (!isObject(body)) return fail('(body)', body, 'a JSON object');
  if (body.apiVersion !== ADMISSION_API_VERSION) fail('apiVersion', body.apiVersion, `"${ADMISSION_API_VERSION}"`);
  if (body.kind !== 'AdmissionReview') fail('kind', body.kind, '"AdmissionReview"');
  const request = body.request;
  if (!isObject(request)) return fail('request', request, 'an object');
  if (typeof request.uid !== 'string' || request.uid === '') fail('request.uid', request.uid, 'a non-empty string');
  const kind = request.kind;
  if (!isObject(kind) || typeof kind.kind !== 'string' || typeof kind.version !== 'string' || typeof kind.group !== 'string') {
    fail('request.kind', kind, 'an object with group, version and kind');
  }
  if (typeof request.operation !== 'string') fail('request.operation', request.operation, 'CREATE, UPDATE, DELETE or CONNECT');
  for (const field of ['namespace', 'name'] as const) {
    if (request[field] !== undefined && typeof request[field] !== 'string') fail(`request.${field}`, request[field], 'a string');
  }
  if (request.dryRun !== undefined && typeof request.dryRun !== 'boolean') fail('request.dryRun', request.dryRun, 'a boolean');
  const operation = request.operation as string;
  if ((operation === 'CREATE' || operation === 'UPDATE') && !isObject(request.object)) {
    fail('request.object', request.object, `the object, for ${operation}`);
  }
  const { group, version, kind: kindName } = kind as AdmissionRequest['kind'];
  return {
    uid: request.uid as string,
    kind: { group, version, kind: kindName },
    operation,
    namespace: (request.namespace as string | undefined) ?? '',
    name: (request.name as string | undefined) ?? '',
    dryRun: request.dryRun === true,
    object: request.object,
    ...(isObject(request.oldObject) ? { oldObject: request.oldObject } : {}),
  };
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
  status?: { code: number; reason: string; message: string };
}

export function admissionResponse(uid: string, decision: Decision): { apiVersion: string; kind: 'AdmissionReview'; response: AdmissionResponse } {
  const response: AdmissionResponse = { uid, allowed: decision.allowed };
  if (decision.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(decision.patch satisfies Operation[])).toString('base64');
  }
  if (decision.warnings.length > 0) response.warnings = decision.warnings;
  // The API server prefixes each key with the webhook's name.
  response.auditAnnotations = { decision: decision.outcome, reason: decision.reason.slice(0, 1000) };
  if (decision.interfaces.length > 0) response.auditAnnotations.interfaces = decision.interfaces.join(',');
  // As Kubernetes' own Forbidden: the API server keeps the reason (apiserver
  // pkg/admission/plugin/webhook/errors ToStatusErr), and kubectl prints "Error from server
  // (Forbidden):" only when there is one (kubectl pkg/cmd/util/helpers.go StandardErrorMessage).
  if (!decision.allowed) response.status = { code: 403, reason: 'Forbidden', message: decision.reason };
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}
