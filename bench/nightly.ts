/**
 * `npx node bench/nightly.ts`: three nightly runs of the bundled action (dist/index.js), as a runner starts it,
 * against a loopback registry and the loopback cache/artifact services of the tests: first full, second
 * incremental (the tutorial's upgrade), third nothing new. Prints each run's wall time, tars and bytes, what the
 * services hold afterwards, and the job summary each run wrote.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatBytes } from '../src/core/format.ts';
import { runAction } from '../testkit/action-run.ts';
import { startActionsServer } from '../testkit/actions-server.ts';
import { pushImageSet, tutorialImages } from '../testkit/images.ts';
import { startRegistry } from '../testkit/registry.ts';

const LAYER_SCALE = 1000; // the tutorial pair at about 30 MB

const [registry, server, images] = await Promise.all([startRegistry(), startActionsServer(), tutorialImages({ layerScale: LAYER_SCALE })]);
try {
  await pushImageSet(registry.url, 'gather', 'sources1', images.sources1);
  await pushImageSet(registry.url, 'gather', 'sources2', images.sources2);
  const rows = [
    [`tools,${registry.host}/gather:sources1`],
    [`tools,${registry.host}/gather:sources1`, `tools,${registry.host}/gather:sources2`],
    [`tools,${registry.host}/gather:sources1`, `tools,${registry.host}/gather:sources2`],
  ];
  for (const [i, batch] of rows.entries()) {
    await server.resetRunner();
    const runId = 100 + i;
    const workspace = server.env({ runId }).GITHUB_WORKSPACE as string;
    await writeFile(join(workspace, 'batch.csv'), ['name,artifact', ...batch].join('\n') + '\n');
    const started = performance.now();
    const run = await runAction(server, { runId }, { 'github-token': server.token, compression: 'zstd' });
    const seconds = (performance.now() - started) / 1000;
    if (run.code !== 0) throw new Error(`run ${i + 1} failed:\n${run.stdout}\n${run.stderr}`);
    console.log(
      `run ${i + 1}: ${seconds.toFixed(2)} s, shipped ${run.outputs.shipped}, skipped ${run.outputs.skipped}, ` +
        `tars ${run.outputs.tars}, ${formatBytes(Number(run.outputs.bytes))}, cache key ${run.outputs['tracker-cache-key']}`,
    );
    console.log(run.summary.replace(/^/gm, '    '));
  }
  console.log(
    'artifacts:',
    server
      .artifacts()
      .map((a) => `${a.name} (${formatBytes(a.size ?? 0)})`)
      .join(', '),
  );
  console.log(
    'cache entries:',
    server
      .caches()
      .map((c) => `${c.key} (${formatBytes(c.size ?? 0)})`)
      .join(', '),
  );
} finally {
  await Promise.all([registry.stop(), server.stop()]);
}
