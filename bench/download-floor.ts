/**
 * The floor for any Node program here: fetch every URL given in turn with undici (one keep-alive connection),
 * hash each body once and write it into one file, as curl does. No tar, no digest check against a name, no fsync.
 * `npm run bench` times it beside curl and ours, so the gap between Node and curl shows apart from our work.
 * Usage: node bench/download-floor.ts OUT-FILE ACCEPT URL...
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Pool } from 'undici';

const [outFile, accept, ...urls] = process.argv.slice(2);
if (!outFile || !accept || urls.length === 0) throw new Error('usage: node bench/download-floor.ts OUT-FILE ACCEPT URL...');
const out = createWriteStream(outFile);
const pool = new Pool(new URL(urls[0] as string).origin, { connections: 1 });
for (const url of urls) {
  const { pathname, search } = new URL(url);
  const response = await pool.request({ method: 'GET', path: pathname + search, headers: { accept } });
  if (response.statusCode !== 200) throw new Error(`GET ${url}: ${response.statusCode}`);
  const hash = createHash('sha256');
  for await (const chunk of response.body) {
    hash.update(chunk as Buffer);
    if (!out.write(chunk)) await once(out, 'drain');
  }
  hash.digest();
}
out.end();
await once(out, 'close');
await pool.close();
