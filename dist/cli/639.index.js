export const id = 639;
export const ids = [639];
export const modules = {

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
