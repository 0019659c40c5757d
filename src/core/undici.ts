/**
 * undici's dispatchers and its `request`, without the rest of it. Its index loads fetch, WebSocket, cookies, caches
 * and mocks too, and through them Node's own copy of undici (a check of `globalThis.Headers`): that doubled a CLI run's
 * start (about 110 ms of loading against 50 ms for these parts).
 */
import type { Dispatcher } from 'undici';
import requestOn from 'undici/lib/api/api-request.js';

export { default as Agent } from 'undici/lib/dispatcher/agent.js';
export { default as Pool } from 'undici/lib/dispatcher/pool.js';
export type { Dispatcher };

/** `dispatcher.request(options)`: undici adds it to every dispatcher from its index, which is not loaded here. */
export function request(dispatcher: Dispatcher, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
  return requestOn.call(dispatcher, options);
}
