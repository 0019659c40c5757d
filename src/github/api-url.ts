import { InputError } from '../core/input-error.ts';
import { isLoopbackHost } from '../core/oci/reference.ts';

/** GitHub's REST API when GITHUB_API_URL does not say otherwise. */
export const DEFAULT_API_URL = 'https://api.github.com';

/** The API's base URL, checked: https, or plain http to a loopback host only (elsewhere the token would travel in clear). */
export function checkApiUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InputError(`${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.host))) {
    throw new InputError(`${url.origin}: the token is sent only over https (plain http only to a loopback host)`);
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new InputError(`${url.origin}: give the API's base URL alone, without a query, fragment or credentials`);
  }
  return url;
}
