/** The walk's order where ace-dt's is not gratuitous to differ from (issue 11, item 6): oras-go's Successors. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { successors, walkGraph } from '../../src/core/oci/graph.ts';
import { OciLayout } from '../../src/core/oci/layout.ts';
import { makeImage, makeReferrer, mergeBlobs, parseManifest, writeOciLayout, type ImageSet } from '../../testkit/images.ts';

let work: string;
let image: ImageSet;
let signature: ImageSet;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bs-walk-'));
  image = await makeImage('signed', { layers: [100, 200] });
  signature = makeReferrer(image.root, 'signature of signed');
});
afterAll(() => rm(work, { recursive: true, force: true }));

test("a manifest's subject comes first, then its config and layers", () => {
  const { subject, config, layers } = parseManifest(signature, signature.root);
  const found = successors(signature.blobs.get(signature.root.digest)!, 'signature');
  expect(found.map((descriptor) => descriptor.digest)).toEqual([subject!.digest, config!.digest, ...layers!.map((layer) => layer.digest)]);
});

test("the walk (and so the tar) takes the subject's whole graph before the manifest's own config and layers", async () => {
  const dir = join(work, 'layout');
  await writeOciLayout(dir, mergeBlobs([image, signature]), [{ descriptor: signature.root, tag: 'sig' }]);
  const graph = await walkGraph(new OciLayout(dir), signature.root);
  const own = parseManifest(signature, signature.root);
  const subject = parseManifest(image, image.root);
  expect(graph.nodes.map((node) => node.descriptor.digest)).toEqual([
    signature.root.digest,
    image.root.digest,
    subject.config!.digest,
    ...subject.layers!.map((layer) => layer.digest),
    own.config!.digest,
    ...own.layers!.map((layer) => layer.digest),
  ]);
  expect(graph.manifests.map((descriptor) => descriptor.digest)).toEqual([signature.root.digest, image.root.digest]);
});
