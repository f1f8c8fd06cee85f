// openid-client (an OpenID Certified relying party) against Kavach: discovery, a code
// flow with PKCE, state and nonce, ID token validation, userinfo, and prompt=none.
// The browser step (a signed-in session cookie, the consent form) is harness-lib.mjs.
//   ISSUER=… CLIENT_ID=… CLIENT_SECRET=… REDIRECT=… SESSION_COOKIE=… node client.mjs
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { headlessAuthorize } from './harness-lib.mjs';

const { ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT, EMAIL } = process.env;
const results = [];
const check = async (name, fn) => {
  try { await fn(); results.push(['PASS', name]); } catch (e) { results.push(['FAIL', name, e.stack ?? String(e)]); }
};
const insecure = { execute: [client.allowInsecureRequests] }; // loopback http in tests only

const config = await client.discovery(new URL(ISSUER), CLIENT_ID, CLIENT_SECRET, undefined, insecure);
await check('discovery: issuer and S256', () => {
  assert.equal(config.serverMetadata().issuer, ISSUER);
  assert.ok(config.serverMetadata().code_challenge_methods_supported.includes('S256'));
});

const verifier = client.randomPKCECodeVerifier();
const nonce = client.randomNonce();
const state = client.randomState();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: REDIRECT, scope: 'openid email profile', state, nonce,
  code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
});
const callback = await headlessAuthorize(url.href);
let tokens;
await check('code flow: ID token validated (signature, iss, aud, nonce, exp)', async () => {
  tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true });
  const claims = tokens.claims();
  assert.equal(claims.nonce, nonce);
  assert.equal(claims.email, EMAIL);
  assert.ok(claims.auth_time);
});
await check('userinfo: same sub as the ID token', async () => {
  const info = await client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub);
  assert.equal(info.email, EMAIL);
});
await check('prompt=none without a session: login_required, with iss', async () => {
  const st = client.randomState();
  const u = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', state: st, prompt: 'none',
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
  const r = await fetch(u, { redirect: 'manual' });
  const cb = new URL(r.headers.get('location'));
  await assert.rejects(client.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier, expectedState: st }),
    (e) => e.error === 'login_required');
});

for (const r of results) console.log(r.join('  '));
if (results.some((r) => r[0] === 'FAIL')) process.exitCode = 1;
