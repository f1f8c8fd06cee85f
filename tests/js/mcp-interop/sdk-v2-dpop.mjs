// The official MCP TypeScript SDK v2 client with DPoP (RFC 9449, SEP-1932) against Kavach
// and the example MCP server: the provider hands the SDK a DpopSession, the SDK signs
// proofs into the token requests and the MCP calls, and follows both servers' nonce
// challenges (`use_dpop_nonce`) by itself. The Rust test (tests/e2e/mcp.rs) runs it with
// MCP_URL, SESSION_COOKIE, TOKEN_TTL, TRACE and EXPECT_RS_NONCE set.
import assert from 'node:assert/strict';
import { Client, DpopSession, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client';
import { headlessAuthorize, sleep } from './harness-lib.mjs';

const SERVER = new URL(process.env.MCP_URL);
const TTL = Number(process.env.TOKEN_TTL ?? '4');
const REDIRECT = 'http://127.0.0.1:9400/callback';

// What the servers answered: nonce challenges from the authorization server (400) and the
// resource server (401), and the token types issued.
const seen = { asNonceChallenges: 0, rsNonceChallenges: 0, dpopCalls: 0, tokenTypes: [] };
const innerFetch = globalThis.fetch;
globalThis.fetch = async (input, init = {}) => {
  const r = await innerFetch(input, init);
  const url = typeof input === 'string' || input instanceof URL ? String(input) : input.url;
  const auth = new Headers(init.headers ?? {}).get('authorization') ?? '';
  if (url.startsWith(SERVER.href) && auth.startsWith('DPoP ')) seen.dpopCalls++;
  if (r.status === 400 && url.includes('/oauth2/token')) {
    const body = await r.clone().json().catch(() => ({}));
    if (body.error === 'use_dpop_nonce') seen.asNonceChallenges++;
  }
  if (r.status === 401 && /error="use_dpop_nonce"/.test(r.headers.get('www-authenticate') ?? '')) seen.rsNonceChallenges++;
  if (r.ok && url.includes('/oauth2/token')) seen.tokenTypes.push((await r.clone().json()).token_type);
  return r;
};

class MemoryProvider {
  constructor(dpop) { this.s = {}; this.authUrls = []; this.session = dpop; }
  get redirectUrl() { return REDIRECT; }
  get clientMetadata() {
    return { client_name: 'mcp-harness (sdk v2, DPoP)', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'], token_endpoint_auth_method: 'none' };
  }
  dpop() { return this.session; }
  state() { return (this.s.state = crypto.randomUUID()); }
  clientInformation() { return this.s.client; }
  saveClientInformation(c) { this.s.client = c; }
  tokens() { return this.s.tokens; }
  saveTokens(t) { this.s.tokens = t; }
  redirectToAuthorization(url) { this.authUrls.push(url); }
  saveCodeVerifier(v) { this.s.verifier = v; }
  codeVerifier() { return this.s.verifier; }
  saveDiscoveryState(d) { this.s.discovery = d; }
  discoveryState() { return this.s.discovery; }
  invalidateCredentials(scope) { if (scope === 'all' || scope === 'client') delete this.s.client; if (scope === 'all' || scope === 'tokens') delete this.s.tokens; }
}

const session = await DpopSession.create({ alg: 'ES256' });
const provider = new MemoryProvider(session);
const client = new Client({ name: 'mcp-harness-sdk-v2-dpop', version: '0.0.1' });
let transport = new StreamableHTTPClientTransport(SERVER, { authProvider: provider });
try {
  try {
    await client.connect(transport);
  } catch (e) {
    if (!(e instanceof UnauthorizedError) || provider.authUrls.length === 0) throw e;
    const cb = await headlessAuthorize(provider.authUrls.pop());
    assert.equal(cb.searchParams.get('state'), provider.s.state, 'state must round-trip');
    await transport.finishAuth(cb.searchParams);
    transport = new StreamableHTTPClientTransport(SERVER, { authProvider: provider });
    await client.connect(transport);
  }
  assert.equal(provider.tokens().token_type, 'DPoP', 'Kavach issued a DPoP-bound token');
  const [, payload] = provider.tokens().access_token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  assert.equal(claims.cnf?.jkt, session.thumbprint, 'the token is bound to the session key (cnf.jkt)');
  const who = await client.callTool({ name: 'whoami', arguments: {} });
  console.log('whoami (DPoP) ->', who.content[0].text);
  console.log(`waiting ${TTL + 1}s for the access token to expire...`);
  await sleep((TTL + 1) * 1000);
  const who2 = await client.callTool({ name: 'whoami', arguments: {} });
  console.log('whoami after DPoP refresh ->', who2.content[0].text);
  assert.notEqual(provider.tokens().access_token.split('.')[1], payload, 'refreshed');
  console.log('seen:', JSON.stringify(seen));
  assert.ok(seen.asNonceChallenges >= 1, 'the SDK met (and followed) the authorization server nonce challenge');
  assert.ok(seen.tokenTypes.length >= 2 && seen.tokenTypes.every((t) => t === 'DPoP'), 'code and refresh grants both issued DPoP tokens');
  assert.ok(seen.dpopCalls >= 2, 'MCP calls used the DPoP scheme');
  if (process.env.EXPECT_RS_NONCE) assert.ok(seen.rsNonceChallenges >= 1, 'the SDK met (and followed) the resource server nonce challenge');
  console.log('DPoP flow OK');
} finally {
  await client.close().catch(() => {});
}
