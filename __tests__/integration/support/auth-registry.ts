/**
 * The test registry behind real authentication: htpasswd (bcrypt, made by `htpasswd -Bbn`) or the
 * distribution token flow with a token server of ours that signs RS256 JWTs with a key whose
 * self-signed certificate (made by `openssl req -x509`) is the registry's rootcertbundle.
 */
import { execFile } from 'node:child_process';
import { createSign, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLoopbackServer, type LoopbackServer } from '../../support/redirect-server.ts';
import { startRegistry, type RunningRegistry } from '../../../testkit/registry.ts';

const run = promisify(execFile);

export interface AuthRegistry {
  registry: RunningRegistry;
  username: string;
  password: string;
  stop(): Promise<void>;
}

export interface TokenRequest {
  method: string;
  /** Who the token server took the caller for; undefined = anonymous. */
  user: string | undefined;
  scopes: string[];
}

export interface TokenAuthRegistry extends AuthRegistry {
  /** Accepted in place of the password through the OAuth2 refresh-token grant (config.json `identitytoken`). */
  identityToken: string;
  /** Every request the token server answered, refused ones included. */
  tokenRequests: TokenRequest[];
  /** The next `count` tokens issued are already expired, so the registry refuses them. */
  expireNextTokens(count: number): void;
}

const SERVICE = 'bs-test-registry';
const ISSUER = 'bs-test-token-server';

async function credentials(): Promise<{ dir: string; username: string; password: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'bs-auth-'));
  return { dir, username: 'alice', password: `pw-${randomUUID()}` };
}

export async function startHtpasswdRegistry(): Promise<AuthRegistry> {
  const { dir, username, password } = await credentials();
  const { stdout } = await run('htpasswd', ['-Bbn', username, password]);
  await writeFile(join(dir, 'htpasswd'), stdout);
  const registry = await startRegistry({ authYaml: `htpasswd:\n  realm: ${SERVICE}\n  path: ${join(dir, 'htpasswd')}` });
  return {
    registry,
    username,
    password,
    async stop() {
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function startTokenRegistry(): Promise<TokenAuthRegistry> {
  const { dir, username, password } = await credentials();
  const identityToken = `refresh-${randomUUID()}`;
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=bs-test-token-signer',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'cert.pem'),
  ]);
  const key = await readFile(join(dir, 'key.pem'), 'utf8');
  const certDer = (await readFile(join(dir, 'cert.pem'), 'utf8')).replace(/-----[A-Z ]+-----|\s/g, '');

  const tokenRequests: TokenRequest[] = [];
  let expiredToIssue = 0;
  const sign = (user: string | undefined, scopes: string[]): string => {
    const now = Math.floor(Date.now() / 1000);
    // The registry allows 60 s of clock skew: an hour back is expired beyond doubt.
    const base = expiredToIssue > 0 ? now - 3600 : now;
    if (expiredToIssue > 0) expiredToIssue--;
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer] };
    const claims = {
      iss: ISSUER,
      sub: user ?? '',
      aud: SERVICE,
      exp: base + 300,
      nbf: base - 10,
      iat: base,
      jti: randomUUID(),
      access: user === undefined ? [] : scopes.flatMap(grant),
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(key);
    return `${signingInput}.${b64url(signature)}`;
  };

  const tokenServer: LoopbackServer = await startLoopbackServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://token');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== '/token') return json(404, { errors: [{ code: 'NOT_FOUND' }] });
    if (req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
      const ok =
        form.get('grant_type') === 'refresh_token' && form.get('refresh_token') === identityToken && form.get('service') === SERVICE;
      tokenRequests.push({ method: 'POST', user: ok ? username : undefined, scopes });
      if (!ok) return json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad refresh token' }] });
      return json(200, { access_token: sign(username, scopes), expires_in: 300, issued_at: new Date().toISOString() });
    }
    const scopes = url.searchParams.getAll('scope');
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    const [user, pass] = basic ? splitOnce(Buffer.from(basic[1]!, 'base64').toString('utf8')) : [undefined, undefined];
    tokenRequests.push({ method: 'GET', user, scopes });
    if (user !== undefined && (user !== username || pass !== password))
      return json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
    if (url.searchParams.get('service') !== SERVICE) return json(400, { errors: [{ code: 'BAD_SERVICE' }] });
    // Anonymous callers get a token that grants nothing, as Docker Hub's token server does for private repositories.
    json(200, { token: sign(user, scopes), expires_in: 300, issued_at: new Date().toISOString() });
  });

  let registry: RunningRegistry;
  try {
    registry = await startRegistry({
      authYaml: [
        'token:',
        `  realm: ${tokenServer.origin}/token`,
        `  service: ${SERVICE}`,
        `  issuer: ${ISSUER}`,
        `  rootcertbundle: ${join(dir, 'cert.pem')}`,
      ].join('\n'),
    });
  } catch (error) {
    await tokenServer.stop();
    throw error;
  }
  return {
    registry,
    username,
    password,
    identityToken,
    tokenRequests,
    expireNextTokens(count: number) {
      expiredToIssue = count;
    },
    async stop() {
      await registry.stop();
      await tokenServer.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The user may pull and push everywhere; anything else asked for is left out. */
function grant(scope: string): Array<{ type: string; name: string; actions: string[] }> {
  const match = /^repository:([^:]+):(.+)$/.exec(scope);
  if (!match) return [];
  const actions = match[2]!.split(',').filter((a) => a === 'pull' || a === 'push');
  return actions.length > 0 ? [{ type: 'repository', name: match[1]!, actions }] : [];
}

function splitOnce(text: string): [string, string] {
  const colon = text.indexOf(':');
  return colon < 0 ? [text, ''] : [text.slice(0, colon), text.slice(colon + 1)];
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += (chunk as Buffer).toString('utf8');
  return text;
}
