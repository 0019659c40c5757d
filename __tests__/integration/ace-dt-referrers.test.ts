/**
 * ace-dt-shaped sync tars built by hand with GNU tar (issue 11, item 4): `ace-dt mirror batch-serialize -r` writes
 * each manifest's referrers (signatures, SBOMs) right after its subtree and lists them in the closing index.json;
 * a gather may nest an index whose extra-manifests name another. Our verify accepts them, our deserialize loads
 * them into a real registry with identical digests (each referrer after its subject), and skopeo reads the result.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { sha256 } from '../../src/core/oci/digest.ts';
import { writeAceDtTar } from './support/ace-dt-tar.ts';
import { runCli } from './support/cli.ts';
import { digestsOf, fetchGraph, resolveTag } from '../../testkit/far-registry.ts';
import {
  makeExtraManifestsIndex,
  makeGather,
  makeReferrer,
  mergeBlobs,
  tutorialImages,
  tutorialSources,
  type ImageSet,
  type TutorialImages,
} from '../../testkit/images.ts';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';

const exec = promisify(execFile);
let far: RunningRegistry;
let work: string;
let images: TutorialImages;

beforeAll(async () => {
  far = await startRegistry();
  images = await tutorialImages();
  work = await mkdtemp(join(tmpdir(), 'bs-acedt-r-'));
});
afterAll(async () => {
  await far?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A referrer as the far registry must hold it: its own blobs and, through its subject, its subject's graph. */
const withSubject = (referrer: ImageSet, subject: ImageSet): ImageSet => ({ blobs: mergeBlobs([referrer, subject]), root: referrer.root });

test('-r tars with signature referrers (one leaving blobs out), a nested extra-manifests index: verify, deserialize, skopeo', async () => {
  const sync = join(work, 'sync');
  await mkdir(sync);
  const { sources1, sources2, grafana, registry } = images;
  // Signatures of the gather and of an image in it; an SBOM of another image, and the SBOM's own signature.
  const gatherSignature = makeReferrer(sources1.root, 'signature of sources1');
  const grafanaSignature = makeReferrer(grafana.root, 'signature of grafana');
  const sbom = makeReferrer(registry.root, '{"spdxVersion":"SPDX-2.3"}', 'application/spdx+json');
  const sbomSignature = makeReferrer(sbom.root, 'signature of the sbom');
  const sources2Signature = makeReferrer(sources2.root, 'signature of sources2');
  await writeAceDtTar(join(sync, '000001-signed.tar'), sources1, {
    refName: 'registry.example/gather:sources1',
    compression: 'none',
    referrers: [gatherSignature, grafanaSignature, sbom, sbomSignature],
  });
  await writeAceDtTar(join(sync, '000002-signed.tar.gz'), sources2, {
    refName: 'registry.example/gather:sources2',
    compression: 'gzip',
    leaveOut: new Set(sources1.blobs.keys()),
    referrers: [sources2Signature],
  });
  const nested = makeGather([{ source: tutorialSources.caddy, image: makeExtraManifestsIndex(images.caddy) }]);
  await writeAceDtTar(join(sync, '000003-nested.tar.zst'), nested, { refName: 'registry.example/gather:nested', compression: 'zstd' });

  const verified = await runCli(['verify', sync, '--json']);
  const report = JSON.parse(verified.stdout) as { ok: boolean; tars: Array<{ syncName: string; manifests: number; problems: string[] }> };
  expect(report.tars.map((tar) => [tar.syncName, tar.problems])).toEqual([
    ['000001-signed.tar', []],
    ['000002-signed.tar.gz', []],
    ['000003-nested.tar.zst', []],
  ]);
  expect(report.tars[0]?.manifests).toBe(3 + 4); // the gather, registry, grafana and the four referrers
  expect(verified.code).toBe(0);

  const loaded = await runCli(['deserialize', sync, `${far.host}/acedt`]);
  expect(loaded.stderr).not.toMatch(/error/i);
  expect(loaded.code).toBe(0);
  expect(await resolveTag(far.url, 'acedt/signed', 'sources2')).toBe(sources2.root.digest);
  expect(await fetchGraph(far.url, 'acedt/signed', 'sources2')).toEqual(digestsOf(sources2));
  expect(await fetchGraph(far.url, 'acedt/signed', sources1.root.digest)).toEqual(digestsOf(sources1));
  for (const [referrer, subject] of [
    [gatherSignature, sources1],
    [grafanaSignature, grafana],
    [sbom, registry],
    [sbomSignature, withSubject(sbom, registry)],
    [sources2Signature, sources2],
  ] as const) {
    expect(await fetchGraph(far.url, 'acedt/signed', referrer.root.digest)).toEqual(digestsOf(withSubject(referrer, subject)));
  }
  expect(await resolveTag(far.url, 'acedt/nested', 'nested')).toBe(nested.root.digest);
  expect(await fetchGraph(far.url, 'acedt/nested', 'nested')).toEqual(digestsOf(nested));

  // skopeo reads the SBOM's signature as pushed, and copies the SBOM and the image it is about, digests unchanged.
  const signed = `docker://${far.host}/acedt/signed`;
  const { stdout: raw } = await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `${signed}@${sbomSignature.root.digest}`]);
  expect(sha256(Buffer.from(raw))).toBe(sbomSignature.root.digest);
  const layout = join(work, 'skopeo-layout');
  for (const [set, tag] of [
    [registry, 'registry'],
    [sbom, 'sbom'],
  ] as const) {
    await exec('skopeo', ['copy', '--preserve-digests', '--src-tls-verify=false', `${signed}@${set.root.digest}`, `oci:${layout}:${tag}`]);
  }
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  expect(index.manifests.map((m) => m.digest)).toEqual([registry.root.digest, sbom.root.digest]);
});
