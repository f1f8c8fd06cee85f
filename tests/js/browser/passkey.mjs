// Passkeys in real Chromium against Kavach. better-auth's own client with
// `passkeyClient()` (bundled by esbuild, run in the page) registers, lists, renames and
// signs in with a passkey that Chromium's virtual authenticator (Chrome DevTools Protocol
// `WebAuthn.addVirtualAuthenticator`) makes: no stub of navigator.credentials anywhere.
// Then the refusals a phishing page or a misconfigured one meets: the same passkey used
// from a page of an origin Kavach does not list (the answer's origin is checked), and a
// credential made for another RP id by a page of a listed origin (its RP id hash is checked).
//
// Environment: KAVACH_API (http://localhost:<port>/<base path>), OTHER_PORT (a free port
// for the foreign origin), CHROMIUM (the browser's executable).

import { ok, passed, tab as openTab, withBrowser } from "./lib.mjs";
import assert from "node:assert/strict";

const api = process.env.KAVACH_API;
const origin = new URL(api).origin;
const basePath = new URL(api).pathname.replace(/\/$/, "");
const port = new URL(api).port;
const foreign = `http://localhost:${process.env.OTHER_PORT}`;
const sibling = `http://app.localhost:${port}`;

await withBrowser(async (context) => {
  const tab = (at, route) => openTab(context, { at, basePath, route });
  const password = "correct horse battery staple";
  const email = `passkey-${Date.now()}@example.com`;
  const A = await tab(origin);
  let r = await A.run(({ email, password }) => window.c.signUp.email({ email, password, name: "Pat" }), { email, password });
  assert.equal(r.error, null, JSON.stringify(r.error));
  ok("signUp.email in the page: a session cookie");

  r = await A.run(() => window.c.passkey.addPasskey({ name: "laptop" }));
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.data.name, "laptop");
  assert.equal(r.data.userId, (await A.run(() => window.c.getSession())).data.user.id);
  ok("passkey.addPasskey: Chromium's authenticator made the passkey, Kavach verified and stored it");

  let creds = await A.credentials();
  assert.equal(creds.length, 1);
  assert.equal(creds[0].rpId, "localhost");
  assert.equal(creds[0].isResidentCredential, true, "a discoverable credential");
  ok("the authenticator holds one discoverable credential for RP id localhost");

  r = await A.run(() => window.c.passkey.addPasskey({ name: "again" }));
  assert.notEqual(r.error, null, "the same authenticator twice");
  assert.equal((await A.credentials()).length, 1);
  ok("registering the same authenticator again is refused (excludeCredentials)");

  r = await A.run(() => window.c.passkey.listUserPasskeys());
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.data.length, 1);
  assert.equal(r.data[0].credentialID, creds[0].credentialId.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""));
  const id = r.data[0].id;
  ok("passkey.listUserPasskeys: the passkey, with the authenticator's credential id");

  r = await A.run((id) => window.c.passkey.updatePasskey({ id, name: "work laptop" }), id);
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.data.passkey.name, "work laptop");
  ok("passkey.updatePasskey renames it");

  await A.run(() => window.c.signOut());
  assert.equal((await A.run(() => window.c.getSession())).data, null);
  r = await A.run(() => window.c.signIn.passkey());
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.data.user.email, email);
  assert.equal((await A.run(() => window.c.getSession())).data.user.email, email);
  ok("signIn.passkey: usernameless sign-in, a session for the passkey's user");

  creds = await A.credentials();
  assert.ok(creds[0].signCount >= 2, `signCount ${creds[0].signCount}`);
  r = await A.run(() => window.c.passkey.listUserPasskeys());
  assert.equal(r.data[0].counter, creds[0].signCount);
  assert.ok(r.data[0].lastUsedAt);
  ok("Kavach keeps the authenticator's signature counter and the last use");

  // A page of an origin Kavach does not list, in front of it as a proxy would be (same
  // RP id, so the browser lets the page use the passkey): the answer names that origin.
  const F = await tab(foreign, (page) =>
    page.route(`${foreign}${basePath}/**`, async (route) => {
      const url = route.request().url().replace(foreign, origin);
      const response = await route.fetch({ url, headers: { ...route.request().headers(), origin } });
      await route.fulfill({ response });
    }),
  );
  await F.addCredential(creds[0]);
  r = await F.run(() => window.c.signIn.passkey());
  assert.notEqual(r.error, null, "signed in from a foreign origin");
  assert.equal(r.error.status, 401);
  assert.match(r.error.message, /InvalidRPOrigin/);
  ok("the passkey used from a page of an unlisted origin is refused (401, InvalidRPOrigin)");

  // A listed origin whose page makes its credential for another RP id (its own host,
  // which Chromium allows there): Kavach refuses the registration.
  const S = await tab(sibling);
  r = await S.run(({ email, password }) => window.c.signIn.email({ email, password }), { email, password });
  assert.equal(r.error, null, JSON.stringify(r.error));
  await S.page.route(`${sibling}${basePath}/passkey/generate-register-options*`, async (route) => {
    // (Node cannot resolve app.localhost; Chromium sends it to the loopback, as here.)
    const response = await route.fetch({ url: route.request().url().replace(sibling, origin) });
    const options = await response.json();
    options.rp.id = "app.localhost";
    await route.fulfill({ response, json: options });
  });
  r = await S.run(() => window.c.passkey.addPasskey({ name: "wrong rp" }));
  assert.notEqual(r.error, null, "a credential for another RP id was registered");
  assert.equal(r.error.status, 400);
  assert.match(r.error.message, /InvalidRPIDHash/);
  assert.equal((await S.credentials()).filter((c) => c.rpId === "app.localhost").length, 1, "the browser did make it");
  assert.equal((await S.run(() => window.c.passkey.listUserPasskeys())).data.length, 1, "and Kavach did not store it");
  ok("a credential made for another RP id is refused (400, InvalidRPIDHash) and not stored");

  r = await A.run((id) => window.c.passkey.deletePasskey({ id }), id);
  assert.equal(r.error, null, JSON.stringify(r.error));
  await A.run(() => window.c.signOut());
  r = await A.run(() => window.c.signIn.passkey());
  assert.equal(r.error?.status, 401);
  ok("passkey.deletePasskey: the deleted passkey no longer signs in");
});
passed("passkey");
