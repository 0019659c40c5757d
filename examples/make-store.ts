/**
 * Writes the example store: an OCI image layout holding the tutorial's two overlapping `ace-dt mirror gather`
 * artifacts, tagged `sources1` and `sources2` (a few small images, deterministic bytes, about 2 MB).
 * Run: npx node examples/make-store.ts [DIR]   (default: examples/store). Rerunning rewrites the same bytes.
 */
import { fileURLToPath } from 'node:url';
import { mergeBlobs, tutorialImages, writeOciLayout } from '../testkit/images.ts';

const dir = process.argv[2] ?? fileURLToPath(new URL('./store', import.meta.url));
const { sources1, sources2 } = await tutorialImages({ layerScale: 40 });
await writeOciLayout(dir, mergeBlobs([sources1, sources2]), [
  { descriptor: sources1.root, tag: 'sources1' },
  { descriptor: sources2.root, tag: 'sources2' },
]);
console.log(`${dir}: sources1 ${sources1.root.digest}`);
console.log(`${dir}: sources2 ${sources2.root.digest}`);
