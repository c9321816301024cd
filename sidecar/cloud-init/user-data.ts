// Merges our cloud-config into the VM's user data without losing anything of the user's:
// #cloud-config YAML is merged in place (keys and comments kept); any other user data is wrapped
// into a MIME multipart with the original kept byte-for-byte. Applying it twice changes nothing.
import { createHash } from 'node:crypto';
import { Document, isMap, isSeq, parseDocument } from 'yaml';
import { InvalidInputError } from '../../api/errors.ts';
import type { CoalesceCloudConfig } from './coalesce-config.ts';

const CLOUD_CONFIG_HEADER = /^#cloud-config[ \t]*(\r?\n|$)/;
const BOUNDARY_PREFIX = 'kubevirt-vduse-';

/** cloud-init's content types, by the first line of a part. */
const CONTENT_TYPES: [RegExp, string][] = [
  [/^#cloud-config-archive/, 'text/cloud-config-archive'],
  [/^#include-once/, 'text/x-include-once-url'],
  [/^#include/, 'text/x-include-url'],
  [/^#cloud-boothook/, 'text/cloud-boothook'],
  [/^#part-handler/, 'text/part-handler'],
  [/^## template: *jinja/, 'text/jinja2'],
  [/^#!/, 'text/x-shellscript'],
];
const MIME_MESSAGE = /^(Content-Type|MIME-Version):/i;
/** Never fold: the udev rule must stay one line, and readers grep for it. */
const YAML_OUTPUT = { lineWidth: 0 } as const;
/** Our outer header, saying how the user's original sits in part 1, so a re-run can take it out again. */
const ORIGINAL_HEADER = 'X-Kubevirt-Vduse-Original';

export function mergeUserData(userData: string, ours: CoalesceCloudConfig, subject: string): string {
  if (userData.trim() === '') return `#cloud-config\n${ourCloudConfigYaml(ours)}`;
  if (CLOUD_CONFIG_HEADER.test(userData)) return mergeCloudConfig(userData, ours, subject);
  return wrapInMultipart(originalOfOurWrapper(userData) ?? userData, ours);
}

function ourCloudConfigYaml(ours: CoalesceCloudConfig): string {
  return new Document({ write_files: [ours.writeFile], runcmd: ours.runcmd }).toString(YAML_OUTPUT);
}

function mergeCloudConfig(userData: string, ours: CoalesceCloudConfig, subject: string): string {
  const document: Document = parseDocument(userData, { keepSourceTokens: false });
  const field = 'cloud-init user data';
  if (document.errors.length > 0) {
    throw new InvalidInputError(subject, field, document.errors[0]!.message.split('\n')[0], 'valid #cloud-config YAML');
  }
  if (document.contents === null) document.contents = document.createNode({});
  if (!isMap(document.contents)) throw new InvalidInputError(subject, field, 'a YAML document that is not a map', '#cloud-config YAML whose top level is a map');

  const writeFiles = document.get('write_files');
  const ourFile = document.createNode(ours.writeFile);
  if (writeFiles === undefined || writeFiles === null) {
    document.set('write_files', document.createNode([ours.writeFile]));
  } else if (isSeq(writeFiles)) {
    const index = writeFiles.items.findIndex((item) => isMap(item) && item.get('path') === ours.writeFile.path);
    if (index === -1) writeFiles.items.push(ourFile);
    else writeFiles.items[index] = ourFile;
  } else {
    throw new InvalidInputError(subject, `${field} write_files`, 'not a list', 'a list of files');
  }

  const runcmd = document.get('runcmd');
  if (runcmd === undefined || runcmd === null) {
    document.set('runcmd', document.createNode(ours.runcmd));
  } else if (isSeq(runcmd)) {
    const present = new Set(runcmd.items.map((item) => JSON.stringify((item as { toJSON?: () => unknown }).toJSON?.() ?? item)));
    for (const command of ours.runcmd) if (!present.has(JSON.stringify(command))) runcmd.items.push(document.createNode(command));
  } else {
    throw new InvalidInputError(subject, `${field} runcmd`, 'not a list', 'a list of commands');
  }
  return document.toString(YAML_OUTPUT);
}

function contentTypeOf(part: string): string | undefined {
  return CONTENT_TYPES.find(([pattern]) => pattern.test(part))?.[1];
}

function boundaryFor(original: string): string {
  let seed = original;
  for (;;) {
    const boundary = `${BOUNDARY_PREFIX}${createHash('sha256').update(seed).digest('hex').slice(0, 32)}`;
    if (!original.includes(boundary)) return boundary;
    seed += boundary;
  }
}

function wrapInMultipart(original: string, ours: CoalesceCloudConfig): string {
  const boundary = boundaryFor(original);
  // A MIME message nests as it is: its own headers head the part.
  const nested = MIME_MESSAGE.test(original);
  const originalPart = nested ? original : `${wrappedPartHeaders(original)}${original}`;
  return [
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    'MIME-Version: 1.0',
    `${ORIGINAL_HEADER}: ${nested ? 'nested' : 'wrapped'}`,
    '',
    `--${boundary}`,
    originalPart,
    `--${boundary}`,
    'Content-Type: text/cloud-config; charset="utf-8"',
    'Content-Transfer-Encoding: 8bit',
    '',
    `#cloud-config\n${ourCloudConfigYaml(ours)}`,
    `--${boundary}--`,
    '',
  ].join('\n');
}

const wrappedPartHeaders = (original: string): string =>
  `Content-Type: ${contentTypeOf(original) ?? 'text/plain'}; charset="utf-8"\nContent-Transfer-Encoding: 8bit\n\n`;

/** When the user data is a multipart this module made, the user's original, byte-for-byte. */
function originalOfOurWrapper(userData: string): string | undefined {
  const match = new RegExp(
    `^Content-Type: multipart/mixed; boundary="(${BOUNDARY_PREFIX}[0-9a-f]{32})"\\nMIME-Version: 1\\.0\\n${ORIGINAL_HEADER}: (nested|wrapped)\\n\\n--\\1\\n`,
  ).exec(userData);
  if (!match) return undefined;
  const [header, boundary, how] = match;
  const end = userData.lastIndexOf(`\n--${boundary!}\nContent-Type: text/cloud-config`);
  if (end < header.length) return undefined;
  const part = userData.slice(header.length, end);
  if (how === 'nested') return part;
  const headers = /^Content-Type: [^\n]*\nContent-Transfer-Encoding: 8bit\n\n/.exec(part);
  return headers ? part.slice(headers[0].length) : undefined;
}
