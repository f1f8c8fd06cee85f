// panva's oauth4webapi 3.8.8 (the low-level OAuth library under OpenID-certified relying
// parties) as a confidential MCP client of Kavach, checking the authorization server's
// behaviour at each step. The library itself validates what it receives: the protected
// resource's `resource`, the metadata's `issuer`, the authorization response's `iss`
// (RFC 9207) and `state`, token responses.
//
//   MCP_URL=… SESSION_COOKIE=… TRACE=traces/oauth4webapi.jsonl node oauth4webapi-flow.mjs
//
// Prints one "PASS  <check>" or "FAIL  <check>  <why>" line per check (13 checks; the Rust
// test counts them); a step the checks depend on that fails ends the run with an error.
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { headlessAuthorize, printTrace } from './harness-lib.mjs';

const resource = new URL(process.env.MCP_URL ?? '');
const REDIRECT = 'http://127.0.0.1:9400/callback';
const cookie = process.env.SESSION_COOKIE;
const http = { [oauth.allowInsecureRequests]: true }; // the servers listen on loopback http
const results = [];

async function check(name, fn) {
  try {
    await fn();
    results.push(`PASS  ${name}`);
  } catch (e) {
    results.push(`FAIL  ${name}  ${e.message}`);
  }
}

// An oauth4webapi error response (OAuth `error` code) from a rejected promise.
const rejectedWith = async (promise, code) => assert.rejects(promise, (e) => e.error === code || e.cause?.error === code);

// A JSON-RPC call to the MCP server with the access token (the library adds the header).
async function rpc(accessToken, id, method, params) {
  const headers = new Headers({ 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' });
  const r = await oauth.protectedResourceRequest(accessToken, 'POST', resource, headers, JSON.stringify({ jsonrpc: '2.0', id, method, params }), http);
  assert.equal(r.status, 200, `${method}: HTTP ${r.status}`);
  return r.json();
}

const introspect = async (as, client, auth, token) =>
  oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, token, http));

// PAR, then the browser at the authorization endpoint with the request_uri; returns what
// the code exchange needs.
async function authorizeWithPar(as, client, auth, scope) {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const params = new URLSearchParams({
    response_type: 'code', redirect_uri: REDIRECT, scope, state, resource: resource.href,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const par = await oauth.processPushedAuthorizationResponse(as, client, await oauth.pushedAuthorizationRequest(as, client, auth, params, http));
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', client.client_id);
  url.searchParams.set('request_uri', par.request_uri);
  const callback = await headlessAuthorize(url.href);
  return { url, verifier, response: oauth.validateAuthResponse(as, client, callback, state) };
}

const redeem = (as, client, auth, { response, verifier }) =>
  oauth.authorizationCodeGrantRequest(as, client, auth, response, REDIRECT, verifier, { additionalParameters: { resource: resource.href }, ...http });

try {
  // Discovery starts at the MCP server: an unauthenticated call is challenged.
  let challengeMetadata;
  await check('unauthenticated MCP call: 401 with a Bearer challenge naming resource_metadata', async () => {
    const r = await fetch(resource, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'oauth4webapi-flow', version: '1' } } }) });
    assert.equal(r.status, 401);
    const challenge = r.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer\b/);
    challengeMetadata = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
    assert.ok(challengeMetadata, `no resource_metadata in ${challenge}`);
  });

  const prm = await oauth.processResourceDiscoveryResponse(resource, await oauth.resourceDiscoveryRequest(resource, http));
  await check('protected resource metadata (RFC 9728) is the one the challenge names, at the path-inserted well-known URL', () => {
    const expected = new URL(`/.well-known/oauth-protected-resource${resource.pathname}`, resource);
    assert.equal(challengeMetadata, expected.href);
    assert.equal(prm.authorization_servers?.length, 1);
  });

  const issuer = new URL(prm.authorization_servers[0]);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...http }));
  await check('authorization server metadata (RFC 8414) for the issuer, PKCE S256 advertised', () => {
    assert.equal(as.issuer, issuer.href);
    assert.ok(as.code_challenge_methods_supported?.includes('S256'));
  });

  // A confidential client by dynamic registration (RFC 7591), authenticating with Basic.
  const registered = await oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(as, {
    client_name: 'kavach interop (oauth4webapi)', application_type: 'native', redirect_uris: [REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic',
  }, http));
  const client = { client_id: registered.client_id };
  const auth = oauth.ClientSecretBasic(registered.client_secret);
  const scope = prm.scopes_supported.join(' ');

  const first = await authorizeWithPar(as, client, auth, scope);
  await check('a pushed request_uri (RFC 9126) works once', async () => {
    const r = await fetch(first.url, { redirect: 'manual', headers: { cookie, accept: 'text/html' } });
    const location = r.headers.get('location') ?? '';
    assert.ok(r.status >= 400 || (r.status >= 300 && r.status < 400 && !/[?&]code=/.test(location)), `second use: HTTP ${r.status} ${location}`);
  });

  const tokenResponse = await redeem(as, client, auth, first);
  await check('token response is Cache-Control: no-store', () => assert.match(tokenResponse.headers.get('cache-control') ?? '', /no-store/));
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, tokenResponse);
  assert.ok(tokens.refresh_token, 'a refresh token was issued');

  await check('MCP tools/call with the access token', async () => {
    await rpc(tokens.access_token, 1, 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'oauth4webapi-flow', version: '1' } });
    const who = await rpc(tokens.access_token, 2, 'tools/call', { name: 'whoami', arguments: {} });
    console.log('whoami ->', who.result?.content?.[0]?.text);
    assert.match(who.result?.content?.[0]?.text ?? '', /^subject /);
  });
  await check('an access token in the query string is refused (RFC 6750 challenge)', async () => {
    const r = await fetch(`${resource.href}?access_token=${encodeURIComponent(tokens.access_token)}`, { method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'whoami', arguments: {} } }) });
    assert.ok(r.status === 400 || r.status === 401, `HTTP ${r.status}`);
    assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer\b/);
  });
  await check('introspection (RFC 7662): active, audience is the MCP server', async () => {
    const i = await introspect(as, client, auth, tokens.access_token);
    assert.equal(i.active, true);
    assert.equal(i.aud, resource.href);
    assert.equal(i.client_id, client.client_id);
  });

  const refreshed = await oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token, { additionalParameters: { resource: resource.href }, ...http }));
  await check('refresh issues a new refresh token (rotation)', () => {
    assert.ok(refreshed.refresh_token);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
  });
  await check('revocation (RFC 7009): the access token then introspects inactive', async () => {
    assert.equal((await introspect(as, client, auth, refreshed.access_token)).active, true, 'active before');
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, refreshed.access_token, http));
    assert.equal((await introspect(as, client, auth, refreshed.access_token)).active, false);
  });
  await check('a rotated-out refresh token is refused (invalid_grant)', async () => {
    await rejectedWith(oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token, http)), 'invalid_grant');
  });

  // A second authorization (consent is remembered now) for the code replay.
  const second = await authorizeWithPar(as, client, auth, scope);
  const fromSecond = await oauth.processAuthorizationCodeResponse(as, client, await redeem(as, client, auth, second));
  assert.equal((await introspect(as, client, auth, fromSecond.access_token)).active, true, 'the second grant is active');
  await check('an authorization code works once (invalid_grant on replay)', async () => {
    await rejectedWith(oauth.processAuthorizationCodeResponse(as, client, await redeem(as, client, auth, second)), 'invalid_grant');
  });
  await check('a replayed code revokes the tokens issued from it', async () => {
    assert.equal((await introspect(as, client, auth, fromSecond.access_token)).active, false);
  });
} finally {
  for (const line of results) console.log(line);
  printTrace();
  if (results.length !== 13 || results.some((l) => l.startsWith('FAIL'))) process.exitCode = 1;
}
