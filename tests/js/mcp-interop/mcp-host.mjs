// The MCP host side of the SDK flows (sdk-v1-flow.mjs, sdk-v2-flow.mjs): what an
// application embedding an MCP client writes itself, the OAuth client provider (kept in
// memory here), and the scenario both SDK lines are driven through against Kavach and the
// example MCP server:
//
//   connect     401 -> the SDK discovers (RFC 9728, RFC 8414), registers (RFC 7591) or
//               uses the Client ID Metadata Document at CIMD_URL, and asks for a browser;
//               harness-lib.mjs plays the signed-in person (cookie + consent form); the
//               SDK redeems the code (PKCE, resource) and the host reconnects
//   tools/list, whoami
//   whoami again once the access token has expired (TOKEN_TTL): the SDK refreshes
//   admin_echo  needs mcp:admin, which the first grant may lack: 403 insufficient_scope,
//               the SDK asks for the larger scope (step-up) and the host plays the browser
//
// Every request the SDK sends is recorded to $TRACE by harness-lib.mjs and summarised at
// the end. The Rust test (crates/kavach-server/tests/e2e/mcp.rs) reads the output lines
// "whoami -> …", "whoami after refresh -> …" and "admin_echo -> …", and the trace.
import assert from 'node:assert/strict';
import { headlessAuthorize, printTrace, readTrace, sleep } from './harness-lib.mjs';

export const REDIRECT = 'http://127.0.0.1:9400/callback';

export class MemoryProvider {
  constructor(label) {
    this.label = label;
    this.saved = {};
    this.authorizationUrls = [];
  }
  get redirectUrl() { return REDIRECT; }
  // With a URL here the SDK uses it as client_id instead of registering.
  get clientMetadataUrl() { return process.env.CIMD_URL || undefined; }
  get clientMetadata() {
    return {
      client_name: `kavach interop (${this.label})`,
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() { return (this.saved.state = crypto.randomUUID()); }
  clientInformation() { return this.saved.client; }
  saveClientInformation(info) { this.saved.client = info; }
  tokens() { return this.saved.tokens; }
  saveTokens(tokens) { this.saved.tokens = tokens; }
  saveCodeVerifier(verifier) { this.saved.verifier = verifier; }
  codeVerifier() { return this.saved.verifier; }
  saveDiscoveryState(state) { this.saved.discovery = state; }
  discoveryState() { return this.saved.discovery; }
  // The SDK "opens a browser": remember the URL, the host follows it after the SDK throws.
  redirectToAuthorization(url) { this.authorizationUrls.push(new URL(url)); }
  invalidateCredentials(what) {
    const drop = { all: ['client', 'tokens', 'verifier', 'discovery'], client: ['client'], tokens: ['tokens'], verifier: ['verifier'], discovery: ['discovery'] }[what] ?? [];
    for (const k of drop) delete this.saved[k];
  }
}

/**
 * Run the scenario with one SDK line.
 * sdk: { Client, StreamableHTTPClientTransport, UnauthorizedError }
 * finishAuth(transport, callbackUrl): hand the authorization response to the SDK.
 * stepUpRequired: whether a failed step-up fails the run (the v1 line does not re-authorize
 * on insufficient_scope; the v2 line does).
 */
export async function runSdkFlow({ label, sdk, finishAuth, stepUpRequired }) {
  const server = new URL(process.env.MCP_URL ?? fail('MCP_URL is required'));
  const ttl = Number(process.env.TOKEN_TTL ?? '4');
  const provider = new MemoryProvider(label);
  const client = new sdk.Client({ name: `kavach-interop-${label.replaceAll(' ', '-')}`, version: '1.0.0' });
  let transport = new sdk.StreamableHTTPClientTransport(server, { authProvider: provider });

  // The browser step: follow the authorization URL the SDK produced, check what comes back
  // to the redirect URI, give it to the SDK.
  async function authorize(step) {
    const url = provider.authorizationUrls.pop();
    assert.ok(url, `${step}: the SDK failed without asking for authorization`);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256', 'PKCE S256');
    assert.equal(url.searchParams.get('resource'), server.href, 'the resource parameter names the MCP server (RFC 8707)');
    console.log(`[${step}] authorization request: client_id=${url.searchParams.get('client_id')} scope=${url.searchParams.get('scope') ?? '-'}`);
    const callback = await headlessAuthorize(url.href);
    assert.equal(`${callback.origin}${callback.pathname}`, REDIRECT, 'the response goes to the registered redirect URI');
    assert.equal(callback.searchParams.get('error'), null, `authorization error: ${callback.searchParams.get('error_description')}`);
    assert.equal(callback.searchParams.get('state'), provider.saved.state, 'state comes back unchanged');
    const issuer = provider.discoveryState()?.authorizationServerMetadata?.issuer;
    assert.ok(issuer && callback.searchParams.get('iss') === issuer, `RFC 9207: iss ${callback.searchParams.get('iss')} is the issuer ${issuer}`);
    await finishAuth(transport, callback);
    console.log(`[${step}] authorized; token scope: ${provider.tokens()?.scope ?? '-'}`);
  }

  // Connecting: the first attempt ends in the browser step; then a new transport connects
  // with the tokens the SDK saved.
  async function connect() {
    try {
      await client.connect(transport);
    } catch (e) {
      if (!(e instanceof sdk.UnauthorizedError)) throw e;
      await authorize('connect');
      transport = new sdk.StreamableHTTPClientTransport(server, { authProvider: provider });
      await client.connect(transport);
    }
  }

  // A call that may need a larger scope: the browser once more, then the same call again.
  async function withStepUp(op) {
    try {
      return await op();
    } catch (e) {
      if (!(e instanceof sdk.UnauthorizedError)) throw e;
      await authorize('step-up');
      return await op();
    }
  }

  try {
    await connect();
    const registered = provider.clientInformation();
    console.log(`client ${registered.client_id}${registered.client_secret ? ' (with a secret)' : ''}`);
    if (process.env.CIMD_URL) assert.equal(registered.client_id, process.env.CIMD_URL, 'with a metadata document, the client_id is its URL');

    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    console.log('tools:', names.join(', '));
    assert.ok(names.includes('whoami') && names.includes('admin_echo'), 'the example server lists its tools');

    const who = await client.callTool({ name: 'whoami', arguments: {} });
    console.log('whoami ->', who.content[0].text);
    const first = provider.tokens();
    assert.ok(first.refresh_token, 'a refresh token was issued');

    console.log(`sleeping ${ttl + 1}s: the access token expires`);
    await sleep((ttl + 1) * 1000);
    const who2 = await client.callTool({ name: 'whoami', arguments: {} });
    console.log('whoami after refresh ->', who2.content[0].text);
    assert.notEqual(provider.tokens().access_token, first.access_token, 'the SDK got a new access token');
    assert.notEqual(provider.tokens().refresh_token, first.refresh_token, 'Kavach rotated the refresh token');

    try {
      const echo = await withStepUp(() => client.callTool({ name: 'admin_echo', arguments: { text: 'hi' } }));
      console.log('admin_echo ->', echo.content[0].text);
      assert.ok(provider.tokens().scope?.split(' ').includes('mcp:admin'), 'the new grant has mcp:admin');
    } catch (e) {
      if (stepUpRequired) throw e;
      console.log(`admin_echo: no step-up with this SDK line (${e.message})`);
    }
    if (process.env.CIMD_URL) assert.ok(!readTrace().some((l) => l.url.includes('/register')), 'no dynamic registration with a metadata document');
    console.log(`${label} flow OK`);
  } finally {
    await client.close().catch(() => {});
    printTrace();
  }
}

function fail(message) {
  throw new Error(message);
}
