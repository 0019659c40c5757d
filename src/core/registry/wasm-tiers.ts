/**
 * undici parses HTTP with llhttp, compiled to WebAssembly. V8 compiles it first with its baseline compiler (Liftoff)
 * and, once it runs hot, again with its optimizing one (Turboshaft) on a worker thread, whose loop unrolling took
 * 15 MiB of that thread's malloc arena, kept by the arena for the rest of the run: 12 MiB of a deserialize's 124 MiB
 * peak RSS (bench:far, heaptrack). The baseline code parses as fast here: an upload's answers are a few headers,
 * and a download's body goes by in one step per chunk. These are the flags `--liftoff-only` sets, with the two it
 * implies (set at run time, a flag implies nothing); set before the parser is first compiled, at the first request.
 */
import { setFlagsFromString } from 'node:v8';

for (const flag of ['--liftoff-only', '--no-wasm-tier-up', '--no-wasm-dynamic-tiering']) setFlagsFromString(flag);
