/**
 * Preloaded into a benchmarked process (`node --import bench/report-rss.ts ...`): writes its peak resident set
 * size in KiB to the file named by BENCH_RSS_FILE when it exits, however it exits.
 */
import { writeFileSync } from 'node:fs';

const target = process.env.BENCH_RSS_FILE;
if (target !== undefined && target !== '') {
  process.once('exit', () => writeFileSync(target, String(process.resourceUsage().maxRSS)));
}
