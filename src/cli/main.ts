/** Node 24 brings zstd in node:zlib; an older Node would check plain tars, then die on the first zstd one. */
const NEEDED_MAJOR = 24;

const major = Number(process.versions.node.split('.')[0]);
if (major < NEEDED_MAJOR) {
  process.stderr.write(`batch-serialize: needs Node ${NEEDED_MAJOR} or newer (zstd in node:zlib); this is Node ${process.versions.node}\n`);
  process.exitCode = 2;
} else {
  const { run } = await import(/* webpackMode: "eager" */ './run.ts');
  process.exitCode = await run(process.argv.slice(2));
}
