/**
 * Referrers in a tar, as ace-dt's `mirror batch-serialize -r` writes them (issue 11, item 4): each after its
 * subject's graph, listed in the closing index.json only. Read, checked, and pushed each after its subject.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { scanTar } from '../../src/core/archive/tar-scan.ts';
import { writeTar } from '../../src/core/archive/tar-writer.ts';
import { deserializeSyncDir } from '../../src/core/far-side/deserialize.ts';
import { Annotation, type Descriptor } from '../../src/core/oci/descriptor.ts';
import { walkGraph } from '../../src/core/oci/graph.ts';
import { MemoryRegistry, MemoryStore } from '../../src/core/oci/memory-store.ts';
import { digestsOf } from '../../testkit/far-registry.ts';
import { makeImage, makeReferrer, mergeBlobs, parseManifest, storeImageSet, tutorialImages, type ImageSet } from '../../testkit/images.ts';
import { FAR, farSettings } from '../support/sync-dir-fixture.ts';
import { visibleIn } from '../support/visible.ts';

let work: string;
let artifact: ImageSet;
let signature: ImageSet;
/** A signature of the signature. */
let countersignature: ImageSet;
let sets = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bs-referrers-'));
  artifact = (await tutorialImages()).sources1;
  signature = makeReferrer(artifact.root, 'signature of sources1');
  countersignature = makeReferrer(signature.root, 'signature of the signature');
});
afterAll(() => rm(work, { recursive: true, force: true }));

/** A referrer's own blobs in ace-dt's order: the manifest, its config, its layers (its subject came before; each blob goes once). */
const own = (referrer: ImageSet): Descriptor[] => {
  const { config, layers } = parseManifest(referrer, referrer.root);
  return [referrer.root, ...(config ? [config] : []), ...(layers ?? [])];
};

/** A sync directory with `000001-signed.tar`: the artifact's graph, then the referrers', all listed at the close. */
async function signedTar(referrers: ImageSet[], leaveOut: ReadonlySet<string> = new Set()): Promise<string> {
  const dir = join(work, `sync-${++sets}`);
  await mkdir(dir);
  const source = new MemoryStore({ registry: 'source.example', repository: 'gather' });
  await storeImageSet(source, 'sources1', artifact);
  const graph = await walkGraph(source, artifact.root);
  const blobs = mergeBlobs([artifact, ...referrers]);
  const all = [...graph.nodes.map((node) => node.descriptor), ...referrers.flatMap(own)];
  const order = [...new Map(all.map((descriptor) => [descriptor.digest, descriptor])).values()].filter((d) => !leaveOut.has(d.digest));
  const root = { ...artifact.root, annotations: { [Annotation.refName]: 'source.example/gather:sources1' } };
  await writeTar(
    join(dir, '000001-signed.tar'),
    {
      root,
      manifests: [root, ...graph.manifests.slice(1), ...referrers.map((referrer) => referrer.root)],
      annotations: { [Annotation.serializationVersion]: '2' },
      blobs: order.map((descriptor) => ({ descriptor, open: async () => Readable.from([blobs.get(descriptor.digest) as Uint8Array]) })),
    },
    { compression: 'none' },
  );
  return dir;
}

test('the scan lists the referrers in push order, each graph without its subject', async () => {
  const dir = await signedTar([signature, countersignature]);
  const scan = await scanTar(join(dir, '000001-signed.tar'));
  expect(scan.problems).toEqual([]);
  expect(scan.notes).toEqual(['no .sha256 sidecar (ace-dt writes none): the file as a whole is unchecked']);
  expect(scan.referrers.map((referrer) => referrer.descriptor)).toEqual([signature.root, countersignature.root]);
  const [first] = scan.referrers;
  expect(first?.graph.manifests.map((manifest) => manifest.descriptor.digest)).toEqual([signature.root.digest]);
  expect(first?.graph.blobs.map((blob) => blob.digest)).toEqual(
    own(signature)
      .slice(1)
      .map((blob) => blob.digest),
  );
});

test('deserialize pushes each referrer by digest after its subject, tagging only the root', async () => {
  const dir = await signedTar([signature, countersignature]);
  const registry = new MemoryRegistry();
  const [loaded] = (await deserializeSyncDir(farSettings(dir), registry)).loaded;
  expect(loaded?.manifestsPushed).toBe(3 + 2);
  const signed = registry.repository({ registry: FAR, repository: 'mirror/signed' });
  const arrived = signed.digests();
  const referrerBlobs = [...own(signature), ...own(countersignature)].map((descriptor) => descriptor.digest);
  expect(new Set(arrived)).toEqual(new Set([...digestsOf(artifact), ...referrerBlobs]));
  const at = (set: ImageSet) => arrived.indexOf(set.root.digest);
  expect(at(artifact)).toBeLessThan(at(signature));
  expect(at(signature)).toBeLessThan(at(countersignature));
  expect(signed.tags()).toEqual(['sources1']);
});

test("a listed manifest that is neither in the root's graph nor a referrer of it is a problem", async () => {
  const elsewhere = makeReferrer((await makeImage('unrelated')).root, 'signature of an image not in the tar');
  const dir = await signedTar([signature, elsewhere]);
  const scan = await scanTar(join(dir, '000001-signed.tar'));
  expect(scan.problems).toEqual([
    `the closing index.json lists manifest ${elsewhere.root.digest}, which is neither in the root's graph nor a referrer of it ` +
      `(its subject ${parseManifest(elsewhere, elsewhere.root).subject?.digest} is neither)`,
  ]);
});

test("a referrer's blob the tar leaves out and the destination lacks: refused before any manifest is pushed", async () => {
  const payload = own(signature)[2] as Descriptor;
  const dir = await signedTar([signature], new Set([payload.digest]));
  const registry = new MemoryRegistry();
  await expect(deserializeSyncDir(farSettings(dir), registry)).rejects.toThrow(
    `000001-signed.tar: refused, no manifest or tag of it was pushed: it leaves out 1 blob(s) that ${FAR}/mirror/signed does not hold`,
  );
  expect(await visibleIn(registry)).toEqual([]);
});
