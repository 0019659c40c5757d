import { describe, expect, test } from 'vitest';
import { Authenticator, pullScope, type TokenHttp } from '../../src/core/registry/auth.ts';
import { UnauthorizedError } from '../../src/core/registry/errors.ts';
import { StaticKeychain } from '../../src/core/registry/keychain.ts';

const CREDENTIALS = new StaticKeychain({ 'registry.example': { username: 'bot', password: 'hunter2' } });
const ANONYMOUS = new StaticKeychain({});

/** A token server that answers every request with a token, and the requests it was sent. */
function tokenServer(): { http: TokenHttp; sent: Array<{ url: string; authorization: string | undefined }> } {
  const sent: Array<{ url: string; authorization: string | undefined }> = [];
  const http: TokenHttp = async (request) => {
    sent.push({ url: request.url.href, authorization: request.headers.authorization });
    return { status: 200, statusText: 'OK', text: JSON.stringify({ token: 'T' }) };
  };
  return { http, sent };
}

function challenged(keychain: StaticKeychain, http: TokenHttp, overTls: boolean, realm: string): Authenticator {
  const auth = new Authenticator('registry.example', keychain, http, overTls);
  auth.learn(`Bearer realm="${realm}",service="registry.example"`);
  return auth;
}

describe('the token realm a registry names', () => {
  test('plain HTTP behind a registry reached over HTTPS: the credentials are not sent, and the error says why', async () => {
    const server = tokenServer();
    const auth = challenged(CREDENTIALS, server.http, true, 'http://auth.example/token');
    const refused = auth.authorization([pullScope('app')]);
    await expect(refused).rejects.toThrow(UnauthorizedError);
    await expect(refused).rejects.toThrow(
      'unauthorized: registry.example names the token realm http://auth.example/token, which is plain HTTP: ' +
        'user "bot" is not sent there (the registry itself is reached over HTTPS)',
    );
    expect(server.sent).toEqual([]);
  });

  test('plain HTTP without credentials, or behind a registry that is plain HTTP itself: the token is fetched', async () => {
    const anonymous = tokenServer();
    await expect(challenged(ANONYMOUS, anonymous.http, true, 'http://auth.example/token').authorization([pullScope('app')])).resolves.toBe(
      'Bearer T',
    );
    expect(anonymous.sent).toEqual([{ url: expect.stringMatching(/^http:\/\/auth\.example\/token\?/), authorization: undefined }]);

    const insecure = tokenServer();
    await expect(
      challenged(CREDENTIALS, insecure.http, false, 'http://auth.example/token').authorization([pullScope('app')]),
    ).resolves.toBe('Bearer T');
    expect(insecure.sent).toEqual([
      { url: expect.stringMatching(/^http:\/\/auth\.example\/token\?/), authorization: expect.stringMatching(/^Basic /) },
    ]);
  });

  test.each(['file:///etc/passwd', 'ftp://auth.example/token', 'token'])('%j is no realm: nothing is sent', async (realm) => {
    const server = tokenServer();
    await expect(challenged(CREDENTIALS, server.http, true, realm).authorization([pullScope('app')])).rejects.toThrow(
      `registry.example: bearer challenge has no usable realm (${JSON.stringify(realm)})`,
    );
    expect(server.sent).toEqual([]);
  });
});
