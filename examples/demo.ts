// `npm run demo`: the tutorial, on the embedded example store (an OCI layout with two overlapping gather
// artifacts), no registry needed. Runs the real CLI three times: first run, an upgrade, nothing new.
import { execFileSync } from 'node:child_process';
import { copyFileSync, readdirSync, rmSync, statSync, writeFileSync, appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const sync = 'demo-sync';
const batch = join(sync, 'batch.csv');
const cli = (args: string[]) => {
  process.stdout.write(`\n$ npx batch-serialize ${args.join(' ')}\n`);
  execFileSync(process.execPath, ['bin/batch-serialize.js', ...args], { stdio: 'inherit' });
};
const show = (path: string) => process.stdout.write(`\n$ cat ${path}\n${readFileSync(path, 'utf8')}`);

execFileSync(process.execPath, ['examples/make-store.ts', 'examples/store'], { stdio: 'inherit' });
rmSync(sync, { recursive: true, force: true });
execFileSync('mkdir', ['-p', sync]);
copyFileSync('examples/batch.csv', batch);
show(batch);
cli([batch, sync]);

appendFileSync(batch, 'tools,ocidir://examples/store:sources2\n');
show(batch);
cli([batch, sync, '--compression', 'zstd']);
cli([batch, sync]);

process.stdout.write(`\n$ ls -l ${sync}\n`);
for (const name of readdirSync(sync).sort()) process.stdout.write(`${String(statSync(join(sync, name)).size).padStart(9)}  ${name}\n`);
show(join(sync, 'record-keeping.csv'));
writeFileSync(join(sync, '.gitignore'), '*\n');
