// KubeVirt's OpenAPI document (swagger.json) as a validator. Object definitions are closed
// (additionalProperties: false where the document leaves it open), so a misspelt or invented
// field fails instead of passing silently, as the API server's structural pruning would drop it.
import { Ajv, type ValidateFunction } from 'ajv';
import { readKubevirtFile } from './kubevirt-files.ts';

type Schema = Record<string, unknown>;
let ajv: Ajv | undefined;
const validators = new Map<string, ValidateFunction>();

function closeObjects(definitions: Record<string, Schema>): void {
  for (const definition of Object.values(definitions)) {
    if (definition.type === 'object' && isRecord(definition.properties) && definition.additionalProperties === undefined) {
      definition.additionalProperties = false;
    }
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function schemaCompiler(): Ajv {
  if (ajv) return ajv;
  const swagger = JSON.parse(readKubevirtFile('swagger.json')) as { definitions: Record<string, Schema> };
  closeObjects(swagger.definitions);
  ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema({ $id: 'kubevirt', definitions: swagger.definitions });
  return ajv;
}

/** The schema errors of an object against a definition such as "v1.VirtualMachine"; [] when valid. */
export function schemaErrors(definition: string, object: unknown): string[] {
  let validate = validators.get(definition);
  if (!validate) {
    validate = schemaCompiler().compile({ $ref: `kubevirt#/definitions/${definition}` });
    validators.set(definition, validate);
  }
  if (validate(object)) return [];
  return (validate.errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message ?? ''} ${JSON.stringify(error.params)}`);
}
