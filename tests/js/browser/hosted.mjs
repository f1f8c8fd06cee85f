// Kavach's hosted pages in real Chromium, as a user meets them in an OAuth flow: the
// sign-in page (password, and the passkey button with its own script under the page's
// Content Security Policy), the two-factor form (a wrong code, the right TOTP code, the
// same code again refused), the consent page, and the redirect to the client with a code.
//
// Environment: KAVACH_API (http://localhost:<port>/<base path>), AUTHORIZE_URL (a flow of
// a registered client whose redirect URI is REDIRECT), EMAIL and PASSWORD of a user with
// TOTP on (TOTP_URI: its otpauth:// URI), SESSION_COOKIE (`name=value`, a fresh session of
// that user, for adding the passkey), CHROMIUM.

import { ok, passed, tab, withBrowser } from "./lib.mjs";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";

const api = process.env.KAVACH_API;
const origin = new URL(api).origin;
const basePath = new URL(api).pathname.replace(/\/$/, "");
const { AUTHORIZE_URL, REDIRECT, EMAIL, PASSWORD, TOTP_URI, SESSION_COOKIE } = process.env;

// RFC 6238 with the URI's parameters (SHA-1, 6 digits, 30 s as Kavach issues them).
function totp(uri, offset = 0) {
  const q = new URL(uri).searchParams;
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const ch of q.get("secret").replace(/=+$/, "")) bits += alphabet.indexOf(ch).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const step = Math.floor(Date.now() / 1000 / Number(q.get("period") || 30)) + offset;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = createHmac((q.get("algorithm") || "SHA1").toLowerCase(), key).update(msg).digest();
  const o = h[h.length - 1] & 15;
  const n = (h.readUInt32BE(o) & 0x7fffffff) % 10 ** Number(q.get("digits") || 6);
  return String(n).padStart(Number(q.get("digits") || 6), "0");
}

await withBrowser(async (context) => {
  // The client: its redirect answered in the browser, the URL kept.
  const callbacks = [];
  await context.route(`${REDIRECT}*`, (r) => {
    callbacks.push(new URL(r.request().url()));
    return r.fulfill({ contentType: "text/plain", body: "back at the client" });
  });
  const codeOf = async (page) => {
    await page.waitForURL(`${REDIRECT}*`);
    const u = callbacks.at(-1);
    assert.ok(u.searchParams.get("code"), `no code: ${u}`);
    assert.equal(u.searchParams.get("iss"), `${origin}${basePath}`);
    return u.searchParams.get("code");
  };
  const consent = async (page) => {
    await page.waitForSelector('button[value="approve"]');
    await page.click('button[value="approve"]');
  };

  // The user adds a passkey in their app (a page on Kavach's origin, their session).
  const [name, value] = SESSION_COOKIE.split(/=(.*)/s);
  await context.addCookies([{ name, value, url: origin }]);
  const T = await tab(context, { at: origin, basePath });
  const added = await T.run(() => window.c.passkey.addPasskey({ name: "laptop" }));
  assert.equal(added.error, null, JSON.stringify(added.error));
  await context.clearCookies();
  const page = T.page;

  // 1. Password, then the two-factor form.
  await page.goto(AUTHORIZE_URL);
  await page.waitForURL(/\/oauth2\/sign-in\?flow=/);
  for (const offer of ["Sign in with a passkey", "Forgot your password?"]) assert.ok((await page.content()).includes(offer), `${offer} missing`);
  ok("the hosted sign-in page offers the password and the passkey");

  await page.fill("#email", EMAIL);
  await page.fill("#password", PASSWORD);
  await page.click('form:has(input[value="password"]) button[type="submit"]');
  await page.waitForURL(/\/two-factor/);
  assert.equal((await context.cookies()).some((c) => c.name.endsWith("session_token")), false, "no session before the second factor");
  ok("the right password leads to the two-factor form, with no session yet");

  const right = totp(TOTP_URI);
  await page.fill("#code", right === "000000" ? "111111" : "000000");
  await page.click('form:has(input[value="totp"]) button[type="submit"]');
  await page.waitForSelector('[role="alert"]');
  assert.match(await page.textContent('[role="alert"]'), /invalid|code/i);
  assert.ok(page.url().includes("/two-factor"), page.url());
  ok("a wrong code: the form again, with the error");

  await page.fill("#code", right);
  await page.click('form:has(input[value="totp"]) button[type="submit"]');
  await consent(page);
  await codeOf(page);
  assert.equal((await context.cookies()).some((c) => c.name.endsWith("session_token")), true);
  ok("the TOTP code in the form, then consent: a session and an authorization code for the client");

  // 2. The same code again, in a new sign-in: refused.
  await context.clearCookies();
  await page.goto(AUTHORIZE_URL);
  await page.fill("#email", EMAIL);
  await page.fill("#password", PASSWORD);
  await page.click('form:has(input[value="password"]) button[type="submit"]');
  await page.waitForURL(/\/two-factor/);
  await page.fill("#code", right);
  await page.click('form:has(input[value="totp"]) button[type="submit"]');
  await page.waitForSelector('[role="alert"]');
  assert.ok(page.url().includes("/two-factor"), page.url());
  assert.equal((await context.cookies()).some((c) => c.name.endsWith("session_token")), false);
  ok("the same TOTP code a second time is refused");

  // 3. The passkey button: the page's script fetches the options, the authenticator
  // answers, the form posts it. A passkey is two factors: no code asked.
  await context.clearCookies();
  const before = callbacks.length;
  await page.goto(AUTHORIZE_URL);
  await page.click('#passkey-form button[type="submit"]');
  await consent(page);
  await codeOf(page);
  assert.equal(callbacks.length, before + 1);
  const counted = (await T.credentials())[0].signCount;
  assert.ok(counted >= 1, `signCount ${counted}`);
  ok("the hosted page's passkey button signs in (its script runs under the page's CSP) and the flow ends with a code");
});
passed("hosted");
