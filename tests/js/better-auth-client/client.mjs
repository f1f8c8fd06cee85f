// Drives Kavach with better-auth's own JS client (createAuthClient from the npm
// package `better-auth`, pinned in package.json). Exits non-zero on the first
// failed check. Usage: KAVACH_API=http://127.0.0.1:PORT/api/kavach node client.mjs
import { createAuthClient } from "better-auth/client";
import assert from "node:assert/strict";
import { cookieFetch } from "./browser.mjs";

const api = process.env.KAVACH_API;
if (!api) throw new Error("set KAVACH_API");
// The app page the browser would be on (Kavach checks it on cookie-carrying writes).
const origin = process.env.KAVACH_ORIGIN || new URL(api).origin;

// A cookie jar around fetch, as a browser would keep one.
const { jar, fetchWithCookies } = cookieFetch(origin);

const client = createAuthClient({ baseURL: api, fetchOptions: { customFetchImpl: fetchWithCookies } });
let checks = 0;
const check = (cond, msg) => { assert.ok(cond, msg); checks++; };

const email = `js-${Date.now()}@example.com`;
const password = "better auth client passphrase";

const up = await client.signUp.email({ email, password, name: "JS Client" });
check(!up.error, `sign-up failed: ${JSON.stringify(up.error)}`);
check(up.data.user.email === email, "sign-up returns the user");

const bad = await client.signIn.email({ email, password: "not the password" });
check(bad.error && bad.error.status === 401, `wrong password gives 401, got ${JSON.stringify(bad.error)}`);
check(bad.error.code === "INVALID_EMAIL_OR_PASSWORD", "better-auth error code");

const signIn = await client.signIn.email({ email, password });
check(!signIn.error, `sign-in failed: ${JSON.stringify(signIn.error)}`);
check(signIn.data.user.email === email && typeof signIn.data.token === "string", "sign-in returns user and token");
check(jar.has("kavach.session_token"), "session cookie set");

const session = await client.getSession();
check(!session.error && session.data, `get-session failed: ${JSON.stringify(session.error)}`);
check(session.data.user.email === email, "get-session returns the user");
check(session.data.session.userId === session.data.user.id, "session belongs to user");
check(!Number.isNaN(Date.parse(session.data.session.expiresAt)), "expiresAt is a date");

const sessions = await client.listSessions();
check(!sessions.error && Array.isArray(sessions.data), `list-sessions failed: ${JSON.stringify(sessions.error)}`);
check(sessions.data.length >= 2, `sign-up and sign-in sessions listed (${sessions.data.length})`);

const other = sessions.data.find((s) => s.id !== session.data.session.id);
const revoked = await client.revokeSession({ token: other.token });
check(!revoked.error && revoked.data.status === true, `revoke-session failed: ${JSON.stringify(revoked.error)}`);
check((await client.listSessions()).data.length === sessions.data.length - 1, "one session fewer");

const upd = await client.updateUser({ name: "Renamed" });
check(!upd.error, `update-user failed: ${JSON.stringify(upd.error)}`);
check((await client.getSession()).data.user.name === "Renamed", "update visible");

const out = await client.signOut();
check(!out.error && out.data.success === true, `sign-out failed: ${JSON.stringify(out.error)}`);
const after = await client.getSession();
check(!after.error && after.data === null, "no session after sign-out");


// JWTs: a token from /token verifies against /jwks with jose (an independent JOSE library).
{
  const { createRemoteJWKSet, jwtVerify } = await import("jose");
  const signIn2 = await client.signIn.email({ email, password });
  check(!signIn2.error, "sign-in again");
  const res = await fetchWithCookies(`${api}/token`);
  check(res.status === 200, `GET /token: ${res.status}`);
  const { token } = await res.json();
  const jwks = createRemoteJWKSet(new URL(`${api}/jwks`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: origin, audience: origin });
  check(protectedHeader.alg === "EdDSA" && typeof protectedHeader.kid === "string", "EdDSA with a kid");
  check(payload.email === email && typeof payload.sub === "string", "claims name the user");
  let rejected = false;
  try {
    await jwtVerify(token.slice(0, -4) + "AAAA", jwks);
  } catch {
    rejected = true;
  }
  check(rejected, "a tampered JWT is rejected");
  console.log(`jose verified Kavach's JWT (kid ${protectedHeader.kid})`);
}

console.log(`better-auth client against Kavach: ${checks} checks passed`);
