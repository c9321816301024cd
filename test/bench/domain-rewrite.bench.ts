// Rewrite cost per OnDefineDomain call against the bare xml2js round trip of the same document.
// The input is what KubeVirt hands the sidecar on its 2nd and 3rd calls: the converted interfaces
// rebuilt as ethernet interfaces with an <mtu>.
import { readFileSync } from 'node:fs';
import { BUILT_IN_TUNING } from '../../api/tuning.ts';
import { rewriteDomain } from '../../sidecar/domain/rewrite.ts';
import { buildDomainXml, parseDomainXml } from '../../sidecar/domain/xml.ts';
import { requestFor } from '../helpers/rewrite-cases.ts';
import { kubevirtFile } from '../helpers/kubevirt-files.ts';
import { macFor, masqueradeDefault, vduseInterface } from '../helpers/vmis.ts';
import { compare, formatMicros } from './measure.ts';

const TARGET_RATIO = 1.3;

function rebuiltInterface(name: string): string {
  return `<interface type="ethernet"><source/><model type="virtio-non-transitional"/><mtu size="1500"/><alias name="ua-${name}"/><rom enabled="no"/></interface>`;
}

export function run(): boolean {
  const fixture = readFileSync(kubevirtFile('domain_x86_64.xml'), 'utf8');
  let allMet = true;
  console.log('domain rewrite vs bare xml2js parse+build of the same document (domain_x86_64.xml)');
  console.log('interfaces  rewrite median  baseline median  ratio  target');
  for (const count of [1, 4, 16]) {
    const names = Array.from({ length: count }, (_, i) => `net${i + 1}`);
    const input = fixture.replace('<channel type="unix">', `${names.map(rebuiltInterface).join('\n')}\n<channel type="unix">`);
    const request = {
      ...requestFor(input, [masqueradeDefault, ...names.map((name, i) => vduseInterface(name, { macAddress: macFor(i) }))]),
      tuning: BUILT_IN_TUNING,
    };
    const timings = compare(
      { rewrite: () => rewriteDomain(request), baseline: () => buildDomainXml(parseDomainXml(input)) },
      { rounds: 30, callsPerRound: 50, warmUpCalls: 300 },
    );
    const ratio = timings.rewrite!.medianMicros / timings.baseline!.medianMicros;
    const met = ratio <= TARGET_RATIO;
    allMet &&= met;
    console.log(
      `${String(count).padStart(10)}  ${formatMicros(timings.rewrite!.medianMicros).padStart(14)}  ${formatMicros(timings.baseline!.medianMicros).padStart(15)}  ${ratio.toFixed(2).padStart(5)}x  <= ${TARGET_RATIO}x ${met ? 'met' : 'MISSED'}`,
    );
  }
  return allMet;
}
