/**
 * The floor for any Node program here: fetch every URL given in turn with undici (one keep-alive connection),
 * hash each body once and write it into one file, as curl does. No tar, no digest check against a name, no fsync.
 * It reads with 'data' events, as the engine does: an async iterator joins the chunks a read finds waiting into a
 * fresh buffer, a copy that made this floor 10-20% slower.
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
  const body = response.body;
  body.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    if (!out.write(chunk)) {
      body.pause();
      out.once('drain', () => body.resume());
    }
  });
  await once(body, 'end');
  hash.digest();
}
out.end();
await once(out, 'close');
await pool.close();
