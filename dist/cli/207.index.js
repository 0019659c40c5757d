export const id = 207;
export const ids = [207,639];
export const modules = {

/***/ 754:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   $P: () => (/* binding */ manifestMediaTypes),
/* harmony export */   YH: () => (/* binding */ Annotation),
/* harmony export */   Yh: () => (/* binding */ isManifest),
/* harmony export */   ZJ: () => (/* binding */ MAX_MANIFEST_BYTES),
/* harmony export */   zu: () => (/* binding */ MediaType)
/* harmony export */ });
/** OCI content descriptors and the media types the graph walk distinguishes. */
const MediaType = {
    ociManifest: 'application/vnd.oci.image.manifest.v1+json',
    ociIndex: 'application/vnd.oci.image.index.v1+json',
    dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
    dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
};
const manifestMediaTypes = Object.values(MediaType);
function isManifest(mediaType) {
    return manifestMediaTypes.includes(mediaType);
}
const Annotation = {
    refName: 'org.opencontainers.image.ref.name',
    extraManifests: 'vnd.act3-ace.data.extra-manifests',
    serializationVersion: 'vnd.act3-ace.data.serialization.version',
    layerSizeDeduplicated: 'vnd.act3-ace.data.layer.size.deduplicated',
    layerSizeTotal: 'vnd.act3-ace.data.layer.size.total',
    manifestSource: 'vnd.act3-ace.manifest.source',
    toolVersion: 'vnd.act3-ace.data.serialization.tool',
};
/** A manifest's size cap: a registry that serves more is misbehaving, and we hold manifests in memory. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;


/***/ }),

/***/ 7207:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

// ESM COMPAT FLAG
__webpack_require__.r(__webpack_exports__);

// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  RegistryClient: () => (/* binding */ RegistryClient)
});

// EXTERNAL MODULE: ./node_modules/undici/index.js
var undici = __webpack_require__(6752);
// EXTERNAL MODULE: external "node:stream"
var external_node_stream_ = __webpack_require__(7075);
// EXTERNAL MODULE: ./src/core/digest.ts
var core_digest = __webpack_require__(5543);
// EXTERNAL MODULE: ./src/core/oci.ts
var oci = __webpack_require__(754);
;// CONCATENATED MODULE: ./src/core/registry/challenge.ts
/**
 * `WWW-Authenticate` parsing (RFC 7235): one header may carry several challenges, each with
 * `key=value` or `key="quoted, value"` parameters, so a plain split on commas is wrong.
 */
const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
function parseChallenges(header) {
    const out = [];
    for (const line of header === undefined ? [] : Array.isArray(header) ? header : [header])
        parseLine(line, out);
    return out;
}
function parseLine(text, out) {
    let i = 0;
    let current;
    const skipSpace = () => {
        while (text[i] === ' ' || text[i] === '\t')
            i++;
    };
    const token = () => {
        TOKEN.lastIndex = i;
        const match = TOKEN.exec(text);
        if (!match)
            return '';
        i = TOKEN.lastIndex;
        return match[0];
    };
    const quoted = () => {
        let value = '';
        for (i++; i < text.length && text[i] !== '"'; i++) {
            if (text[i] === '\\' && i + 1 < text.length)
                i++;
            value += text[i];
        }
        i++;
        return value;
    };
    while (i < text.length) {
        skipSpace();
        if (text[i] === ',') {
            i++;
            continue;
        }
        const name = token();
        if (name === '') {
            i++;
            continue;
        }
        skipSpace();
        if (text[i] === '=' && current !== undefined) {
            i++;
            skipSpace();
            current.params[name.toLowerCase()] = text[i] === '"' ? quoted() : token();
        }
        else {
            current = { scheme: name.toLowerCase(), params: {} };
            out.push(current);
        }
    }
}

;// CONCATENATED MODULE: ./src/core/registry/body.ts
/** Drops a response body we will not read; undici reports the abort as an error nobody needs to hear. */
function discard(body) {
    body.on('error', () => undefined);
    body.destroy();
}
/** Reads a body into memory, stopping (and dropping the rest) as soon as it runs past `limit` bytes. */
async function readCapped(body, limit, tooLong) {
    const chunks = [];
    let total = 0;
    for await (const chunk of body) {
        total += chunk.byteLength;
        if (total > limit) {
            discard(body);
            throw tooLong();
        }
        chunks.push(chunk);
    }
    return Buffer.concat(chunks, total);
}

;// CONCATENATED MODULE: ./src/core/registry/errors.ts

/** A registry answered with a status we did not expect; the message carries the distribution error codes. */
class RegistryError extends Error {
    status;
    /** Distribution error codes from the body: `MANIFEST_UNKNOWN`, `DENIED`, ... */
    codes;
    constructor(message, status, codes = []) {
        super(message);
        this.name = 'RegistryError';
        this.status = status;
        this.codes = codes;
    }
}
class UnauthorizedError extends RegistryError {
    constructor(message, status = 401, codes = []) {
        super(message, status, codes);
        this.name = 'UnauthorizedError';
    }
}
/** `GET https://host/v2/repo/blobs/uploads/…`: a URL for messages, without its query (signed URLs and upload state). */
function describeRequest(method, url) {
    return `${method} ${url.origin}${url.pathname}${url.search ? '?…' : ''}`;
}
const ERROR_BODY_LIMIT = 64 * 1024;
/** Reads (a bounded part of) an error response body and always finishes with the stream. */
async function readErrorBody(body) {
    body.on('error', () => undefined);
    const chunks = [];
    let total = 0;
    try {
        for await (const chunk of body) {
            chunks.push(chunk);
            total += chunk.byteLength;
            if (total >= ERROR_BODY_LIMIT)
                break;
        }
    }
    catch {
        // The status already says what failed; a broken error body adds nothing.
    }
    finally {
        discard(body);
    }
    return parseErrorBody(Buffer.concat(chunks).toString('utf8').slice(0, ERROR_BODY_LIMIT));
}
function parseErrorBody(text) {
    const trimmed = text.trim();
    if (trimmed === '')
        return { codes: [], text: '' };
    try {
        const parsed = JSON.parse(trimmed);
        if (Array.isArray(parsed.errors) && parsed.errors.length > 0) {
            const codes = parsed.errors.map((e) => String(e.code ?? 'UNKNOWN'));
            const parts = parsed.errors.map((e) => {
                const detail = e.detail === undefined || e.detail === null ? '' : ` (${oneLine(JSON.stringify(e.detail), 200)})`;
                return `${String(e.code ?? 'UNKNOWN')} ${String(e.message ?? '')}`.trim() + detail;
            });
            return { codes, text: parts.join('; ') };
        }
    }
    catch {
        // Not JSON: quote the start of it.
    }
    return { codes: [], text: oneLine(trimmed, 300) };
}
function oneLine(text, max) {
    const flat = text.replace(/\s+/g, ' ');
    return flat.length > max ? flat.slice(0, max) + '…' : flat;
}
/** `GET https://host/v2/r/manifests/t: 404 MANIFEST_UNKNOWN manifest unknown` */
function statusMessage(what, status, statusText, body) {
    return `${what}: ${status} ${body.text || statusText || 'no details'}`;
}

// EXTERNAL MODULE: ./src/core/registry/keychain.ts
var keychain = __webpack_require__(1639);
;// CONCATENATED MODULE: ./src/core/registry/auth.ts
/**
 * Registry authentication (the distribution token spec and Basic auth): learns the scheme from
 * challenges, fetches bearer tokens per scope, caches them and refreshes one on a later 401.
 */



/** Refetch a token this long before the expiry the token server announced. */
const EXPIRY_SLACK_MS = 10_000;
const CLIENT_ID = 'batch-serialize';
function pullScope(repository) {
    return `repository:${repository}:pull`;
}
function pushScope(repository) {
    return `repository:${repository}:pull,push`;
}
class Authenticator {
    registry;
    keychain;
    http;
    credentials;
    /** The scheme in force (bearer preferred over basic); undefined while the registry asks for none. */
    challenge;
    tokens = new Map();
    constructor(registry, keychain, http) {
        this.registry = registry;
        this.keychain = keychain;
        this.http = http;
    }
    /** Takes the scheme from a `WWW-Authenticate` header (a ping's or a 401's). */
    learn(header) {
        const challenges = parseChallenges(header);
        const chosen = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
        if (chosen !== undefined)
            this.challenge = chosen;
    }
    /** The Authorization header for a request needing these scopes, or undefined (anonymous). */
    async authorization(scopes) {
        const challenge = this.challenge;
        if (challenge === undefined)
            return undefined;
        if (challenge.scheme === 'basic')
            return basicHeader(await this.getCredentials());
        const key = scopeKey(scopes);
        let token = this.tokens.get(key);
        if (token !== undefined) {
            const current = await token.catch(() => undefined);
            if (current === undefined || (current.expiresAt !== undefined && current.expiresAt - EXPIRY_SLACK_MS < Date.now())) {
                token = undefined;
            }
        }
        token ??= this.cacheToken(key, challenge, scopes);
        return `Bearer ${(await token).value}`;
    }
    /**
     * After a 401: the header to try once more with, or undefined when there is nothing new to try.
     * A bearer token is refreshed (unless another request already did), with any scopes the challenge adds.
     */
    async reauthorize(scopes, header, used) {
        this.learn(header);
        const challenge = this.challenge;
        if (challenge === undefined)
            return undefined;
        if (challenge.scheme === 'basic') {
            const basic = basicHeader(await this.getCredentials());
            return basic !== used ? basic : undefined;
        }
        const key = scopeKey(scopes);
        const cached = this.tokens.get(key);
        if (cached !== undefined) {
            const current = await cached.catch(() => undefined);
            if (current !== undefined && `Bearer ${current.value}` !== used)
                return `Bearer ${current.value}`;
        }
        const wanted = [...new Set([...scopes, ...(challenge.params.scope ?? '').split(' ').filter(Boolean)])];
        return `Bearer ${(await this.cacheToken(key, challenge, wanted)).value}`;
    }
    /** For messages: `user "alice"`, `an identity token`, `anonymous access, no credentials found`. Never a secret. */
    async identity() {
        const credentials = await this.getCredentials();
        if (credentials === undefined)
            return 'anonymous access, no credentials found';
        return (0,keychain.isIdentityToken)(credentials) ? 'an identity token' : `user ${JSON.stringify(credentials.username)}`;
    }
    getCredentials() {
        this.credentials ??= this.keychain.credentialsFor(this.registry);
        return this.credentials;
    }
    cacheToken(key, challenge, scopes) {
        const token = this.fetchToken(challenge, scopes);
        this.tokens.set(key, token);
        token.catch(() => {
            if (this.tokens.get(key) === token)
                this.tokens.delete(key);
        });
        return token;
    }
    async fetchToken(challenge, scopes) {
        const realm = challenge.params.realm;
        let url;
        try {
            url = new URL(realm ?? '');
        }
        catch {
            throw new RegistryError(`${this.registry}: bearer challenge has no usable realm (${JSON.stringify(realm ?? '')})`, 401);
        }
        const service = challenge.params.service;
        const credentials = await this.getCredentials();
        let response;
        let method;
        if (credentials !== undefined && (0,keychain.isIdentityToken)(credentials)) {
            method = 'POST';
            const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credentials.identityToken, client_id: CLIENT_ID });
            if (service)
                form.set('service', service);
            if (scopes.length > 0)
                form.set('scope', scopes.join(' '));
            response = await this.http({
                url,
                method,
                headers: { 'content-type': 'application/x-www-form-urlencoded' },
                body: Buffer.from(form.toString()),
            });
        }
        else {
            method = 'GET';
            if (service)
                url.searchParams.set('service', service);
            for (const scope of scopes)
                url.searchParams.append('scope', scope);
            const basic = basicHeader(credentials);
            response = await this.http({ url, method, headers: basic ? { authorization: basic } : {} });
        }
        const what = `token request ${describeRequest(method, url)} for ${this.registry}`;
        if (response.status === 401 || response.status === 403) {
            throw new UnauthorizedError(`unauthorized: authentication failed for ${this.registry}: the token server refused ${await this.identity()} ` +
                `(${what}: ${response.status}; check docker login / credentials)`, response.status);
        }
        if (response.status !== 200)
            throw new RegistryError(`${what}: ${response.status} ${response.statusText}`, response.status);
        return parseTokenResponse(what, response.text);
    }
}
function parseTokenResponse(what, text) {
    let parsed;
    try {
        parsed = JSON.parse(text);
    }
    catch {
        throw new RegistryError(`${what}: answer is not JSON`, 200);
    }
    const value = typeof parsed.token === 'string' && parsed.token ? parsed.token : parsed.access_token;
    if (typeof value !== 'string' || value === '')
        throw new RegistryError(`${what}: answer holds no token`, 200);
    const expiresIn = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : undefined;
    return { value, expiresAt: expiresIn === undefined ? undefined : Date.now() + expiresIn * 1000 };
}
function basicHeader(credentials) {
    if (credentials === undefined || (0,keychain.isIdentityToken)(credentials))
        return undefined;
    return 'Basic ' + Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
}
function scopeKey(scopes) {
    return [...scopes].sort().join(' ');
}

;// CONCATENATED MODULE: ./src/core/registry/repository.ts
/**
 * One registry repository through the distribution API (go-containerregistry's remote layer):
 * reads as a ReadOnlyStorage, plus the few writes the far side needs.
 */






const MANIFEST_ACCEPT = oci/* manifestMediaTypes */.$P.join(', ');
class RegistryRepository {
    location;
    repository;
    transport;
    pull;
    constructor(transport, reference) {
        this.transport = transport;
        this.repository = reference.repository;
        this.location = `${reference.registry}/${reference.repository}`;
        this.pull = [pullScope(reference.repository)];
    }
    /** HEAD first; GET when the HEAD answer lacks what a descriptor needs (or failed, for the error's body). */
    async resolve(selector) {
        const pinned = (0,core_digest/* isDigest */.Bc)(selector) ? selector : undefined;
        const head = await this.manifestRequest('HEAD', selector, MANIFEST_ACCEPT, [200, 404]);
        await head.body.dump();
        if (head.statusCode === 200) {
            const digest = header(head, 'docker-content-digest');
            const mediaType = contentType(head);
            const size = Number(header(head, 'content-length'));
            if (digest !== undefined && (0,core_digest/* isDigest */.Bc)(digest) && mediaType !== undefined && Number.isSafeInteger(size)) {
                if (pinned !== undefined && digest !== pinned)
                    throw this.wrongDigest(selector, digest);
                return { mediaType, digest, size };
            }
        }
        const get = await this.manifestRequest('GET', selector, MANIFEST_ACCEPT, [200]);
        const bytes = await readCapped(get.body, oci/* MAX_MANIFEST_BYTES */.ZJ, () => tooBig(this.manifestName(selector)));
        const digest = (0,core_digest/* sha256 */.sc)(bytes);
        const announced = header(get, 'docker-content-digest');
        if (pinned !== undefined && digest !== pinned)
            throw this.wrongDigest(selector, digest);
        if (announced !== undefined && announced !== digest)
            throw this.wrongDigest(selector, digest, announced);
        const mediaType = contentType(get) ?? mediaTypeField(bytes);
        if (mediaType === undefined)
            throw new RegistryError(`${this.manifestName(selector)}: neither Content-Type nor mediaType says what it is`, 200);
        return { mediaType, digest, size: bytes.byteLength };
    }
    async fetchManifest(descriptor) {
        const what = this.manifestName(descriptor.digest);
        if (descriptor.size > oci/* MAX_MANIFEST_BYTES */.ZJ)
            throw tooBig(what, descriptor.size);
        const accept = [descriptor.mediaType, ...oci/* manifestMediaTypes */.$P.filter((t) => t !== descriptor.mediaType)].join(', ');
        const response = await this.manifestRequest('GET', descriptor.digest, accept, [200]);
        checkLength(what, response, descriptor);
        const bytes = await readCapped(response.body, descriptor.size, () => new core_digest/* DigestMismatchError */.h(what, descriptor, { digest: 'unknown (too long)', size: descriptor.size + 1 }));
        (0,core_digest/* verifyBytes */.RV)(what, bytes, descriptor);
        return bytes;
    }
    /** Streams the blob through a digest check: the stream errors instead of ending when the content is wrong. */
    async fetchBlob(descriptor) {
        const what = `blob ${this.location}@${descriptor.digest}`;
        const response = await this.transport.request({ method: 'GET', path: this.blobPath(descriptor.digest), scopes: this.pull, expect: [200] });
        checkLength(what, response, descriptor);
        const verifier = new core_digest/* VerifyingStream */.SC(what, descriptor);
        // pipeline passes a broken download on to the verifier and a destroyed verifier back to the socket.
        return (0,external_node_stream_.pipeline)(response.body, verifier, () => undefined);
    }
    async exists(descriptor) {
        if (!(0,oci/* isManifest */.Yh)(descriptor.mediaType))
            return this.blobExists(descriptor.digest);
        const response = await this.manifestRequest('HEAD', descriptor.digest, MANIFEST_ACCEPT, [200, 404]);
        await response.body.dump();
        return response.statusCode === 200;
    }
    async blobExists(digest) {
        const response = await this.transport.request({ method: 'HEAD', path: this.blobPath(digest), scopes: this.pull, expect: [200, 404] });
        await response.body.dump();
        return response.statusCode === 200;
    }
    /**
     * A monolithic upload (POST, then PUT ?digest=). With `mountFrom`, asks the registry to mount the blob from
     * that repository first; a registry that declines starts an ordinary upload instead.
     */
    async pushBlob(descriptor, content, options = {}) {
        const push = [pushScope(this.repository)];
        const mount = options.mountFrom;
        const query = mount === undefined ? '' : `?${new URLSearchParams({ mount: descriptor.digest, from: mount }).toString()}`;
        const started = await this.transport.request({
            method: 'POST',
            path: `/v2/${this.repository}/blobs/uploads/${query}`,
            scopes: mount === undefined ? push : [...push, pullScope(mount)],
            expect: [201, 202],
            headers: { 'content-length': '0' },
        });
        await started.body.dump();
        if (started.statusCode === 201)
            return 'mounted';
        const location = header(started, 'location');
        if (location === undefined)
            throw new RegistryError(`upload of ${this.location}@${descriptor.digest}: 202 without a Location`, 202);
        const target = new URL(location, this.transport.origin);
        target.searchParams.set('digest', descriptor.digest);
        const done = await this.transport.request({
            method: 'PUT',
            path: target.href,
            scopes: push,
            expect: [201],
            headers: { 'content-type': 'application/octet-stream', 'content-length': String(descriptor.size) },
            body: content,
        });
        await done.body.dump();
        return 'uploaded';
    }
    /** Stores a manifest under a tag or its digest; returns its descriptor. */
    async pushManifest(reference, mediaType, bytes) {
        const digest = (0,core_digest/* sha256 */.sc)(bytes);
        const response = await this.transport.request({
            method: 'PUT',
            path: `/v2/${this.repository}/manifests/${reference}`,
            scopes: [pushScope(this.repository)],
            expect: [201],
            headers: { 'content-type': mediaType },
            body: bytes,
        });
        await response.body.dump();
        const stored = header(response, 'docker-content-digest');
        if (stored !== undefined && stored !== digest) {
            throw new RegistryError(`${this.manifestName(reference)}: registry stored ${stored}, we sent ${digest}`, 201);
        }
        return { mediaType, digest, size: bytes.byteLength };
    }
    manifestRequest(method, selector, accept, expect) {
        return this.transport.request({
            method,
            path: `/v2/${this.repository}/manifests/${selector}`,
            scopes: this.pull,
            expect,
            headers: { accept },
        });
    }
    blobPath(digest) {
        return `/v2/${this.repository}/blobs/${digest}`;
    }
    wrongDigest(selector, digest, announced) {
        const claim = announced === undefined ? `content is ${digest}` : `registry says ${announced}, content is ${digest}`;
        return new RegistryError(`${this.manifestName(selector)}: ${claim}`, 200);
    }
    /** `manifest host/repo:tag` or `manifest host/repo@sha256:…` */
    manifestName(selector) {
        return `manifest ${this.location}${(0,core_digest/* isDigest */.Bc)(selector) ? '@' : ':'}${selector}`;
    }
}
function header(response, name) {
    const value = response.headers[name];
    const first = Array.isArray(value) ? value[0] : value;
    return first === undefined || first === '' ? undefined : first;
}
function contentType(response) {
    const value = header(response, 'content-type')?.split(';')[0]?.trim();
    return value === undefined || value === '' || value === 'application/octet-stream' || value === 'text/plain' ? undefined : value;
}
function mediaTypeField(bytes) {
    try {
        const parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
        return typeof parsed.mediaType === 'string' && parsed.mediaType !== '' ? parsed.mediaType : undefined;
    }
    catch {
        return undefined;
    }
}
/** A Content-Length that contradicts the descriptor fails before any byte is read. */
function checkLength(what, response, descriptor) {
    const length = header(response, 'content-length');
    if (length === undefined || Number(length) === descriptor.size)
        return;
    discard(response.body);
    throw new core_digest/* DigestMismatchError */.h(what, descriptor, { digest: 'unknown (Content-Length)', size: Number(length) });
}
function tooBig(what, size) {
    const is = size === undefined ? 'is' : `is ${size} bytes,`;
    return new RegistryError(`${what} ${is} over the ${oci/* MAX_MANIFEST_BYTES */.ZJ}-byte limit for manifests`, 200);
}

// EXTERNAL MODULE: external "node:timers/promises"
var promises_ = __webpack_require__(8500);
;// CONCATENATED MODULE: ./src/core/registry/retry.ts

function retryPolicy(options = {}) {
    return {
        attempts: Math.max(1, options.attempts ?? 5),
        baseDelayMs: options.baseDelayMs ?? 500,
        maxDelayMs: options.maxDelayMs ?? 30_000,
        onRetry: options.onRetry,
    };
}
/** 429 and server errors, except 501 (the server will never do it). */
function isRetryableStatus(status) {
    return status === 429 || (status >= 500 && status <= 599 && status !== 501);
}
const TRANSIENT_CODES = new Set([
    'ECONNRESET',
    'ECONNREFUSED',
    'ECONNABORTED',
    'EPIPE',
    'ETIMEDOUT',
    'EAI_AGAIN',
    'ENETUNREACH',
    'EHOSTUNREACH',
    'UND_ERR_SOCKET',
    'UND_ERR_CONNECT_TIMEOUT',
    'UND_ERR_HEADERS_TIMEOUT',
    'UND_ERR_BODY_TIMEOUT',
    'UND_ERR_CLOSED',
]);
/** A connection that failed or broke: worth another try. TLS and DNS-name errors are not. */
function isTransientError(error) {
    for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
        const code = e.code;
        if (typeof code === 'string' && TRANSIENT_CODES.has(code))
            return true;
    }
    return false;
}
/** `Retry-After` as seconds or an HTTP date; undefined when absent or unreadable. */
function retryAfterMs(header, now = Date.now()) {
    const value = Array.isArray(header) ? header[0] : header;
    if (value === undefined || value.trim() === '')
        return undefined;
    if (/^\s*\d+\s*$/.test(value))
        return Number(value) * 1000;
    const date = Date.parse(value);
    return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
/** Exponential backoff with jitter (half fixed, half random), or what the server asked for; both capped. */
function retryDelayMs(policy, attempt, retryAfter) {
    if (retryAfter !== undefined)
        return Math.min(policy.maxDelayMs, retryAfter);
    const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(exponential / 2 + (Math.random() * exponential) / 2);
}
async function waitBeforeRetry(policy, event) {
    policy.onRetry?.(event);
    await (0,promises_.setTimeout)(event.delayMs);
}
function describeError(error) {
    if (!(error instanceof Error))
        return String(error);
    const code = error.code;
    const cause = error.cause instanceof Error && error.cause.message !== error.message ? `: ${error.cause.message}` : '';
    return `${error.message}${typeof code === 'string' && !error.message.includes(code) ? ` (${code})` : ''}${cause}`;
}

// EXTERNAL MODULE: ./src/core/reference.ts
var reference = __webpack_require__(5378);
;// CONCATENATED MODULE: ./src/core/registry/transport.ts






const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const TOKEN_RESPONSE_LIMIT = 1024 * 1024;
/**
 * How much of a response undici reads ahead of its consumer. Its 64 KiB default pauses and resumes the socket
 * for nearly every chunk of a blob; 1 MiB cut about a tenth of the CPU a 400 MB tar costs (`npm run bench`).
 */
const BODY_BUFFER_BYTES = 1024 * 1024;
function registryOrigin(registry, insecureHosts) {
    const host = (0,reference/* apiHost */.nz)(registry);
    const bare = host.replace(/:[0-9]+$/, '');
    const insecure = (0,reference/* isLoopbackHost */.cW)(host) || insecureHosts.some((h) => h === host || h === registry || h === bare);
    return `${insecure ? 'http' : 'https'}://${host}`;
}
class Transport {
    registry;
    origin;
    pool;
    foreign;
    userAgent;
    retry;
    auth;
    pinged;
    constructor(options) {
        this.registry = options.registry;
        this.origin = registryOrigin(options.registry, options.insecureHosts);
        this.pool = new undici/* Pool */.bC(this.origin);
        this.foreign = options.foreign;
        this.userAgent = options.userAgent;
        this.retry = options.retry;
        this.auth = new Authenticator(options.registry, options.keychain, (request) => this.tokenExchange(request));
    }
    /**
     * Sends a request with auth, retries and redirects. Resolves only with an expected status; the caller
     * must then consume or destroy the body. Every other response body is finished here.
     */
    async request(request) {
        await this.ping();
        const url = new URL(request.path, this.origin);
        const what = describeRequest(request.method, url);
        const authorization = await this.auth.authorization(request.scopes);
        let response = await this.send(request, url, what, authorization);
        if (response.statusCode === 401 && replayable(request.body)) {
            const challenge = response.headers['www-authenticate'];
            await response.body.dump();
            const retried = await this.auth.reauthorize(request.scopes, challenge, authorization);
            if (retried === undefined)
                throw await this.unauthorized(what, 401, { codes: [], text: '' });
            response = await this.send(request, url, what, retried);
        }
        if (request.expect.includes(response.statusCode))
            return response;
        const body = await readErrorBody(response.body);
        if (response.statusCode === 401)
            throw await this.unauthorized(what, 401, body);
        throw new RegistryError(statusMessage(what, response.statusCode, response.statusText, body), response.statusCode, body.codes);
    }
    async close() {
        await this.pool.close();
    }
    /** `GET /v2/` once, to learn whether and how the registry wants auth. */
    ping() {
        this.pinged ??= (async () => {
            const url = new URL('/v2/', this.origin);
            const what = describeRequest('GET', url);
            const response = await this.dispatch(url, 'GET', this.baseHeaders(), undefined, what);
            if (response.statusCode === 200) {
                await response.body.dump();
                return;
            }
            if (response.statusCode === 401) {
                this.auth.learn(response.headers['www-authenticate']);
                await response.body.dump();
                return;
            }
            const body = await readErrorBody(response.body);
            throw new RegistryError(`${statusMessage(what, response.statusCode, response.statusText, body)} (is ${this.registry} an OCI registry?)`, response.statusCode, body.codes);
        })();
        this.pinged.catch(() => (this.pinged = undefined));
        return this.pinged;
    }
    /** One logical request: follows redirects of GET and HEAD, sending Authorization only to the registry's origin. */
    async send(request, start, what, authorization) {
        let url = start;
        for (let hop = 0;; hop++) {
            const headers = { ...this.baseHeaders(), ...request.headers };
            if (authorization !== undefined && url.origin === this.origin)
                headers.authorization = authorization;
            const response = await this.dispatch(url, request.method, headers, request.body, what);
            const follow = REDIRECTS.has(response.statusCode) && (request.method === 'GET' || request.method === 'HEAD');
            if (!follow)
                return response;
            const location = response.headers.location;
            await response.body.dump();
            if (typeof location !== 'string' || location === '') {
                throw new RegistryError(`${what}: ${response.statusCode} redirect without a Location`, response.statusCode);
            }
            if (hop >= MAX_REDIRECTS)
                throw new RegistryError(`${what}: more than ${MAX_REDIRECTS} redirects`, response.statusCode);
            url = new URL(location, url);
        }
    }
    /** One HTTP exchange, tried again on 429, 5xx (not 501) and broken connections while the body allows it. */
    async dispatch(url, method, headers, body, what) {
        const dispatcher = url.origin === this.origin ? this.pool : this.foreign;
        const canRetry = replayable(body);
        for (let attempt = 1;; attempt++) {
            let response;
            try {
                response = await dispatcher.request({ origin: url.origin, path: url.pathname + url.search, method, headers, body: body ?? null, highWaterMark: BODY_BUFFER_BYTES });
            }
            catch (error) {
                if (canRetry && attempt < this.retry.attempts && isTransientError(error)) {
                    await waitBeforeRetry(this.retry, { what, attempt, delayMs: retryDelayMs(this.retry, attempt, undefined), reason: describeError(error) });
                    continue;
                }
                const tries = attempt > 1 ? ` (after ${attempt} attempts)` : '';
                const hop = what.endsWith(describeRequest(method, url)) ? '' : ` → ${describeRequest(method, url)}`;
                throw new Error(`${what}${hop}: ${describeError(error)}${tries}`, { cause: error });
            }
            if (canRetry && attempt < this.retry.attempts && isRetryableStatus(response.statusCode)) {
                const delayMs = retryDelayMs(this.retry, attempt, retryAfterMs(response.headers['retry-after']));
                await response.body.dump();
                await waitBeforeRetry(this.retry, { what, attempt, delayMs, reason: `${response.statusCode} ${response.statusText}` });
                continue;
            }
            return response;
        }
    }
    async tokenExchange(request) {
        const what = describeRequest(request.method, request.url);
        const response = await this.dispatch(request.url, request.method, { ...this.baseHeaders(), ...request.headers }, request.body, what);
        const text = await readCapped(response.body, TOKEN_RESPONSE_LIMIT, () => new RegistryError(`${what}: token answer over ${TOKEN_RESPONSE_LIMIT} bytes`, response.statusCode));
        return { status: response.statusCode, statusText: response.statusText, text: text.toString('utf8') };
    }
    async unauthorized(what, status, body) {
        const said = body.text ? `: ${body.text}` : '';
        return new UnauthorizedError(`${what}: ${status} unauthorized: authentication required for ${this.registry}${said} ` +
            `(tried ${await this.auth.identity()}; check docker login / credentials)`, status, body.codes);
    }
    baseHeaders() {
        return { 'user-agent': this.userAgent };
    }
}
function replayable(body) {
    return body === undefined || body instanceof Uint8Array;
}

;// CONCATENATED MODULE: ./src/core/registry/client.ts




const DEFAULT_USER_AGENT = 'batch-serialize';
/** Entry point to registries: one transport (connection pool, auth state) per registry, shared by its repositories. */
class RegistryClient {
    keychain;
    insecureHosts;
    userAgent;
    retry;
    foreign = new undici/* Agent */.g6();
    transports = new Map();
    constructor(options) {
        this.keychain = options.keychain;
        this.insecureHosts = options.insecureHosts ?? [];
        this.userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
        this.retry = retryPolicy(options.retry);
    }
    repository(reference) {
        let transport = this.transports.get(reference.registry);
        if (transport === undefined) {
            transport = new Transport({
                registry: reference.registry,
                keychain: this.keychain,
                insecureHosts: this.insecureHosts,
                userAgent: this.userAgent,
                retry: this.retry,
                foreign: this.foreign,
            });
            this.transports.set(reference.registry, transport);
        }
        return new RegistryRepository(transport, reference);
    }
    async close() {
        const transports = [...this.transports.values()];
        this.transports.clear();
        await Promise.all([...transports.map((t) => t.close()), this.foreign.close()]);
    }
}


/***/ }),

/***/ 1639:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   DockerConfigKeychain: () => (/* binding */ DockerConfigKeychain),
/* harmony export */   MultiKeychain: () => (/* binding */ MultiKeychain),
/* harmony export */   StaticKeychain: () => (/* binding */ StaticKeychain),
/* harmony export */   defaultKeychain: () => (/* binding */ defaultKeychain),
/* harmony export */   isIdentityToken: () => (/* binding */ isIdentityToken),
/* harmony export */   registryKey: () => (/* binding */ registryKey)
/* harmony export */ });
/* harmony import */ var node_child_process__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(1421);
/* harmony import */ var node_child_process__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_child_process__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(1455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(8161);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(node_os__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(6760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_3___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_3__);
/**
 * Credentials for a registry host (go-containerregistry's authn.Keychain): the caller's explicit
 * credentials first, then the Docker client configuration and its credential helpers.
 */




function isIdentityToken(credentials) {
    return 'identityToken' in credentials;
}
const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_ALIASES = new Set(['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);
/** What `docker login` records Docker Hub under, and asks credential helpers about. */
const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/';
/** The host a config key or registry name means: scheme and path dropped, Docker Hub's aliases folded. */
function registryKey(nameOrUrl) {
    const host = nameOrUrl.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0].toLowerCase();
    return DOCKER_HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}
/** Credentials given by the caller (the Action's `registry-username`/`registry-password`), keyed by registry. */
class StaticKeychain {
    entries;
    constructor(credentials) {
        this.entries = new Map(Object.entries(credentials).map(([registry, c]) => [registryKey(registry), c]));
    }
    async credentialsFor(registry) {
        return this.entries.get(registryKey(registry));
    }
}
/** Asks each keychain in turn; the first that knows the registry wins. */
class MultiKeychain {
    keychains;
    constructor(keychains) {
        this.keychains = keychains;
    }
    async credentialsFor(registry) {
        for (const keychain of this.keychains) {
            const credentials = await keychain.credentialsFor(registry);
            if (credentials !== undefined)
                return credentials;
        }
        return undefined;
    }
}
/**
 * `~/.docker/config.json`. Order: the host's `credHelpers` entry (Docker gives it precedence), then an
 * `auths` entry that holds credentials, then `credsStore` (which leaves empty `auths` placeholders behind).
 */
class DockerConfigKeychain {
    env;
    file;
    config;
    constructor(options = {}) {
        this.env = options.env ?? process.env;
        const dir = options.configDir ?? this.env.DOCKER_CONFIG ?? (0,node_path__WEBPACK_IMPORTED_MODULE_3__.join)(this.env.HOME ?? (0,node_os__WEBPACK_IMPORTED_MODULE_2__.homedir)(), '.docker');
        this.file = (0,node_path__WEBPACK_IMPORTED_MODULE_3__.join)(dir, 'config.json');
    }
    async credentialsFor(registry) {
        this.config ??= readConfig(this.file);
        const config = await this.config;
        const key = registryKey(registry);
        const helper = findByHost(config.credHelpers, key);
        if (helper !== undefined)
            return this.runHelper(helper, registry);
        const entry = findByHost(config.auths, key);
        const fromFile = entry === undefined ? undefined : decodeAuthEntry(entry, `${this.file}: auths entry for ${registry}`);
        if (fromFile !== undefined)
            return fromFile;
        if (config.credsStore)
            return this.runHelper(config.credsStore, registry);
        return undefined;
    }
    async runHelper(name, registry) {
        const server = registryKey(registry) === DOCKER_HUB ? DOCKER_HUB_SERVER : registry;
        return credentialHelperGet(name, server, this.env, this.file);
    }
}
/** Explicit credentials first, then the Docker configuration. */
function defaultKeychain(explicit = {}, options = {}) {
    return new MultiKeychain([new StaticKeychain(explicit), new DockerConfigKeychain(options)]);
}
async function readConfig(file) {
    let text;
    try {
        text = await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.readFile)(file, 'utf8');
    }
    catch (error) {
        if (error.code === 'ENOENT')
            return {};
        throw new Error(`${file}: cannot read Docker config: ${error.message}`);
    }
    try {
        const parsed = JSON.parse(text);
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
            throw new Error('not a JSON object');
        return parsed;
    }
    catch (error) {
        throw new Error(`${file}: not a valid Docker config: ${error.message}`);
    }
}
function findByHost(entries, key) {
    if (entries === undefined)
        return undefined;
    for (const [name, value] of Object.entries(entries))
        if (registryKey(name) === key)
            return value;
    return undefined;
}
function decodeAuthEntry(entry, where) {
    if (entry.identitytoken)
        return { identityToken: entry.identitytoken };
    if (entry.auth) {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon < 0)
            throw new Error(`${where}: "auth" is not base64 of user:password`);
        return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    if (entry.username !== undefined && entry.password !== undefined)
        return { username: entry.username, password: entry.password };
    return undefined;
}
const HELPER_TIMEOUT_MS = 60_000;
/** `docker-credential-NAME get` with the server on stdin; "credentials not found" means anonymous. */
async function credentialHelperGet(name, server, env, configFile) {
    const program = `docker-credential-${name}`;
    const { code, stdout, stderr } = await new Promise((resolve, reject) => {
        const child = (0,node_child_process__WEBPACK_IMPORTED_MODULE_0__.spawn)(program, ['get'], { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: HELPER_TIMEOUT_MS });
        let out = '';
        let err = '';
        child.stdout.on('data', (chunk) => (out += chunk.toString('utf8')));
        child.stderr.on('data', (chunk) => (err += chunk.toString('utf8')));
        child.on('error', (error) => reject(error.code === 'ENOENT'
            ? new Error(`${configFile} names credential helper ${program}, which is not on PATH`)
            : new Error(`${program} get ${server}: ${error.message}`)));
        child.on('close', (exitCode) => resolve({ code: exitCode, stdout: out, stderr: err }));
        child.stdin.on('error', () => undefined);
        child.stdin.end(server);
    });
    if (code !== 0) {
        const said = (stdout + '\n' + stderr).trim();
        if (/credentials not found/i.test(said))
            return undefined;
        throw new Error(`${program} get ${server} failed (exit ${code}): ${said.split('\n')[0]?.slice(0, 200) || 'no output'}`);
    }
    let parsed;
    try {
        parsed = JSON.parse(stdout);
    }
    catch {
        throw new Error(`${program} get ${server}: output is not JSON`);
    }
    if (typeof parsed.Secret !== 'string' || parsed.Secret === '')
        return undefined;
    const username = typeof parsed.Username === 'string' ? parsed.Username : '';
    return username === '<token>' ? { identityToken: parsed.Secret } : { username, password: parsed.Secret };
}


/***/ })

};
