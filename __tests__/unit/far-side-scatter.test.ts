import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { scatterArtifact, type ScatterInput } from '../../src/core/far-side/scatter.ts';
import { readScatterMap, scatterTarget, type ScatterRule } from '../../src/core/far-side/scatter-map.ts';
import { InputError } from '../../src/core/input-error.ts';
import { MemoryRegistry, type MemoryStore } from '../../src/core/oci/memory-store.ts';
import { digestsOf } from '../../testkit/far-registry.ts';
import { makeGather, makeImage, makeIndex, manifestsChildrenFirst, tutorialImages } from '../../testkit/images.ts';
import type { ImageSet, TutorialImages } from '../../testkit/images.ts';

const FAR = 'far.example:5000';
const DEST = { registry: FAR, path: 'mirror' };

let work: string;
let images: TutorialImages;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bs-scatter-unit-'));
  images = await tutorialImages();
});
afterAll(() => rm(work, { recursive: true, force: true }));

const rule = (from: string, to: string, line = 1): ScatterRule => ({ from, to, where: `scatter.map:${line}` });

describe('readScatterMap', () => {
  test('SOURCE-PREFIX=DEST-PREFIX per line, trimmed; comments, blank lines and CRLF are fine; each rule knows its file:line', async () => {
    const path = join(work, 'good.map');
    const lines = [
      '# scatter.map\r',
      'docker.io/library/=registry.internal:5000/base/\r',
      '\r',
      '  docker.io/grafana/ = registry.internal:5000/monitoring/  ',
      '  # indented comment',
      'quay.io/a=b=c',
    ];
    await writeFile(path, `${lines.join('\n')}\n`);
    expect(await readScatterMap(path)).toEqual([
      { from: 'docker.io/library/', to: 'registry.internal:5000/base/', where: `${path}:2` },
      { from: 'docker.io/grafana/', to: 'registry.internal:5000/monitoring/', where: `${path}:4` },
      { from: 'quay.io/a', to: 'b=c', where: `${path}:6` },
    ]);
    await writeFile(path, '# nothing but a comment\n\n');
    expect(await readScatterMap(path)).toEqual([]);
  });

  test.each([
    ['no equals sign', 'docker.io/library/', '"docker.io/library/"'],
    ['no source prefix', ' = registry.internal/base/', '"= registry.internal/base/"'],
    ['no destination prefix', 'docker.io/library/=', '"docker.io/library/="'],
  ])('%s: an InputError naming file:line and the line', async (_case, line, quoted) => {
    const path = join(work, 'bad.map');
    await writeFile(path, `# first\ndocker.io/grafana/=registry.internal/monitoring/\n${line}\n`);
    const failure = readScatterMap(path);
    await expect(failure).rejects.toThrow(InputError);
    await expect(readScatterMap(path)).rejects.toThrow(`${path}:3: expected SOURCE-PREFIX=DEST-PREFIX, got ${quoted}`);
  });

  test('a missing file: an InputError naming it', async () => {
    const path = join(work, 'absent.map');
    await expect(readScatterMap(path)).rejects.toThrow(new RegExp(`^${path.replace(/[.]/g, '\\.')}: cannot read the scatter map: ENOENT`));
  });
});

describe('scatterTarget', () => {
  test('without a matching rule: the repository path under DEST, the tag kept; digest-only stays digest-only', () => {
    expect(scatterTarget('docker.io/grafana/grafana:10.4.1', DEST, [rule('quay.io/', 'far.example:5000/quay/')])).toEqual({
      reference: { kind: 'registry', registry: FAR, repository: 'mirror/grafana/grafana' },
      tag: '10.4.1',
    });
    expect(scatterTarget('ubuntu', { registry: FAR, path: '' }, [])).toEqual({
      reference: { kind: 'registry', registry: FAR, repository: 'library/ubuntu' },
      tag: 'latest',
    });
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(scatterTarget(`docker.io/library/caddy@${digest}`, DEST, [])).toEqual({
      reference: { kind: 'registry', registry: FAR, repository: 'mirror/library/caddy' },
      tag: undefined,
    });
    expect(scatterTarget(`docker.io/library/caddy:2.7.6@${digest}`, DEST, []).tag).toBe('2.7.6');
  });

  test('the longest matching SOURCE-PREFIX wins, whatever the order of the lines', () => {
    const rules = [
      rule('docker.io/', 'hub.example/all/', 1),
      rule('docker.io/library/', 'hub.example/base/', 2),
      rule('docker.io/lib', 'x.example/', 3),
    ];
    for (const ordered of [rules, [...rules].reverse()]) {
      expect(scatterTarget('docker.io/library/caddy:2.7.6', DEST, ordered)).toEqual({
        reference: { kind: 'registry', registry: 'hub.example', repository: 'base/caddy' },
        tag: '2.7.6',
      });
      expect(scatterTarget('docker.io/grafana/grafana:10.4.1', DEST, ordered)).toEqual({
        reference: { kind: 'registry', registry: 'hub.example', repository: 'all/grafana/grafana' },
        tag: '10.4.1',
      });
    }
  });

  test('a rule matches the source as written or, failing that, in its full form', () => {
    const rules = [rule('docker.io/library/', `${FAR}/base/`)];
    expect(scatterTarget('caddy:2.7.6', DEST, rules)).toEqual({
      reference: { kind: 'registry', registry: FAR, repository: 'base/caddy' },
      tag: '2.7.6',
    });
    expect(scatterTarget('caddy:2.7.6', DEST, [...rules, rule('caddy', `${FAR}/short/caddy`)]).reference.repository).toBe('short/caddy');
  });

  test('errors: a source that is no registry reference, a rule that maps to none; each names what to fix', () => {
    const expectInputError = (run: () => unknown, message: string | RegExp) => {
      expect(run).toThrow(InputError);
      expect(run).toThrow(message);
    };
    expectInputError(() => scatterTarget('ocidir://store:v1', DEST, []), 'scatter of ocidir://store:v1: not a registry reference');
    expectInputError(() => scatterTarget('Not A Reference', DEST, []), /^scatter of Not A Reference: invalid reference "Not A Reference"/);
    expectInputError(
      () => scatterTarget('docker.io/library/caddy:2.7.6', DEST, [rule('docker.io/library/', `${FAR}/UPPER/`, 7)]),
      /^scatter\.map:7: maps docker\.io\/library\/caddy:2\.7\.6 to far\.example:5000\/UPPER\/caddy:2\.7\.6: invalid reference .*"UPPER"/,
    );
    expectInputError(
      () => scatterTarget('docker.io/library/caddy:2.7.6', DEST, [rule('docker.io/library/', 'ocidir://out/', 4)]),
      'scatter.map:4: maps docker.io/library/caddy:2.7.6 to ocidir://out/caddy:2.7.6, not a registry reference',
    );
    expectInputError(
      () => scatterTarget('docker.io/library/caddy:2.7.6', DEST, [rule('docker.io/library/', `bot:secret@${FAR}/`, 2)]),
      `scatter.map:2: maps docker.io/library/caddy:2.7.6 to ***@${FAR}/caddy:2.7.6: ` +
        `invalid reference "***@${FAR}/caddy:2.7.6": credentials`,
    );
  });
});

describe('scatterArtifact against a memory registry', () => {
  let registry: MemoryRegistry;
  let loadedInto: MemoryStore;

  /** The gather pushed whole into DEST/tools, as deserialize leaves it; the input to scatter it. */
  async function loaded(set: ImageSet, rules: ScatterRule[] = []): Promise<ScatterInput> {
    registry = new MemoryRegistry();
    loadedInto = registry.repository({ registry: FAR, repository: 'mirror/tools' });
    const manifests = new Map(manifestsChildrenFirst(set).map((descriptor) => [descriptor.digest, set.blobs.get(descriptor.digest)!]));
    for (const [digest, bytes] of set.blobs) {
      if (manifests.has(digest)) continue;
      await loadedInto.pushBlob({ mediaType: 'application/octet-stream', digest, size: bytes.byteLength }, bytes);
    }
    for (const descriptor of manifestsChildrenFirst(set)) {
      await loadedInto.pushManifest(descriptor.digest, descriptor.mediaType, manifests.get(descriptor.digest)!);
    }
    return { root: set.root, manifests, loadedInto, destination: DEST, rules };
  }

  const store = (repository: string) => registry.repository({ registry: FAR, repository });

  test('each image with vnd.act3-ace.manifest.source goes to its path under DEST, tag kept, blobs mounted', async () => {
    const input = await loaded(images.sources2);
    const downloads = vi.spyOn(loadedInto, 'fetchBlob');
    expect(await scatterArtifact(input, registry)).toEqual([
      { source: 'docker.io/grafana/grafana:10.4.1', target: `${FAR}/mirror/grafana/grafana:10.4.1`, digest: images.grafana.root.digest },
      { source: 'docker.io/library/caddy:2.7.6', target: `${FAR}/mirror/library/caddy:2.7.6`, digest: images.caddy.root.digest },
    ]);
    expect(downloads).not.toHaveBeenCalled();
    expect(registry.repositories()).toEqual([`${FAR}/mirror/grafana/grafana`, `${FAR}/mirror/library/caddy`, `${FAR}/mirror/tools`]);
    const grafana = store('mirror/grafana/grafana');
    expect(new Set(grafana.digests())).toEqual(digestsOf(images.grafana));
    expect(grafana.tags()).toEqual(['10.4.1']);
    expect((await grafana.resolve('10.4.1')).digest).toBe(images.grafana.root.digest);
    // caddy is an index: its manifests arrive children first, the index last and tagged
    const caddy = store('mirror/library/caddy');
    const manifestDigests = new Set(manifestsChildrenFirst(images.caddy).map((descriptor) => descriptor.digest));
    expect(caddy.digests().filter((digest) => manifestDigests.has(digest))).toEqual([...manifestDigests]);
    expect(new Set(caddy.digests())).toEqual(digestsOf(images.caddy));
    expect(caddy.tags()).toEqual(['2.7.6']);
  });

  test('a source pinned by digest alone is pushed by digest only; indexes in extra-manifests are scattered too', async () => {
    const busybox = await makeImage('busybox', { layers: [500] });
    const pinned = `docker.io/library/busybox@${busybox.root.digest}`;
    const caddy = makeIndex([await makeImage('caddy', { layers: [300] })]);
    const entries = [
      { source: pinned, image: busybox },
      { source: 'docker.io/library/caddy:2.7.6', image: caddy },
    ];
    const gather = makeGather(entries, { indexFallback: true });
    expect(await scatterArtifact(await loaded(gather), registry)).toEqual([
      { source: pinned, target: `${FAR}/mirror/library/busybox@${busybox.root.digest}`, digest: busybox.root.digest },
      { source: 'docker.io/library/caddy:2.7.6', target: `${FAR}/mirror/library/caddy:2.7.6`, digest: caddy.root.digest },
    ]);
    expect(store('mirror/library/busybox').tags()).toEqual([]);
    expect(new Set(store('mirror/library/busybox').digests())).toEqual(digestsOf(busybox));
    expect((await store('mirror/library/busybox').resolve(busybox.root.digest)).digest).toBe(busybox.root.digest);
  });

  test('rules rename; another registry gets the blobs streamed through; a second scatter pushes no blob again', async () => {
    const input = await loaded(images.sources1, [rule('docker.io/library/', 'other.example/base/'), rule('docker.io/', `${FAR}/hub/`)]);
    const downloads = vi.spyOn(loadedInto, 'fetchBlob');
    expect(await scatterArtifact(input, registry)).toEqual([
      { source: 'docker.io/library/registry:2.8.3', target: 'other.example/base/registry:2.8.3', digest: images.registry.root.digest },
      { source: 'docker.io/grafana/grafana:10.4.1', target: `${FAR}/hub/grafana/grafana:10.4.1`, digest: images.grafana.root.digest },
    ]);
    const registryImageBlobs = digestsOf(images.registry).size - manifestsChildrenFirst(images.registry).length;
    expect(downloads).toHaveBeenCalledTimes(registryImageBlobs);
    const moved = registry.repository({ registry: 'other.example', repository: 'base/registry' });
    expect(new Set(moved.digests())).toEqual(digestsOf(images.registry));
    expect(moved.tags()).toEqual(['2.8.3']);

    const pushes = vi.spyOn(moved, 'pushBlob');
    await scatterArtifact(input, registry);
    expect(pushes).not.toHaveBeenCalled();
    expect(downloads).toHaveBeenCalledTimes(registryImageBlobs);
  });

  test('children without a source, and a root whose manifest is not at hand', async () => {
    const plain = makeIndex([await makeImage('plain', { layers: [100] })]);
    expect(await scatterArtifact(await loaded(plain), registry)).toEqual([]);
    expect(registry.repositories()).toEqual([`${FAR}/mirror/tools`]);
    const input = await loaded(images.sources1);
    await expect(scatterArtifact({ ...input, manifests: new Map() }, registry)).rejects.toThrow(
      `scatter: the root manifest ${images.sources1.root.digest} is not at hand`,
    );
    const withoutGrafana = new Map([...input.manifests].filter(([digest]) => digest !== images.grafana.root.digest));
    await expect(scatterArtifact({ ...input, manifests: withoutGrafana }, registry)).rejects.toThrow(
      `scatter: manifest ${images.grafana.root.digest} of ${images.grafana.root.digest} is not at hand`,
    );
  });
});
