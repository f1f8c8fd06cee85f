// Kavach's hosted pages in real Chromium, as a user meets them in an OAuth flow: the
// sign-in page (password; the passkey, wallet and One Tap buttons, whose one script runs
// under the page's Content Security Policy), the two-factor form (a wrong code, the right
// TOTP code, the same code again refused), the consent page, and the redirect to the
// client with a code. The wallet is an EIP-1193 provider injected into the page that signs
// with viem in Node (no wallet extension runs headless); Google's One Tap library is a
// stand-in served at its real address that hands over the ID token the test signed.
//
// Environment: KAVACH_API (http://localhost:<port>/<base path>), AUTHORIZE_URL (a flow of
// a registered client whose redirect URI is REDIRECT), EMAIL and PASSWORD of a user with
// TOTP on (TOTP_URI: its otpauth:// URI), SESSION_COOKIE (`name=value`, a fresh session of
// that user, for adding the passkey), WALLET_KEY (a wallet's private key, hex), ID_TOKEN
// (a Google ID token for a new user), CHROMIUM.

import { ok, passed, tab, withBrowser } from "./lib.mjs";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { privateKeyToAccount } from "viem/accounts";

const api = process.env.KAVACH_API;
const origin = new URL(api).origin;
const basePath = new URL(api).pathname.replace(/\/$/, "");
const { AUTHORIZE_URL, REDIRECT, EMAIL, PASSWORD, TOTP_URI, SESSION_COOKIE, WALLET_KEY, ID_TOKEN } = process.env;

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
  // The consent page, approved; a page showing an error instead fails with its text.
  const consent = async (page) => {
    await page.waitForSelector('button[value="approve"], [role="alert"]:not(:empty)');
    const alert = await page.$('[role="alert"]:not(:empty)');
    if (alert) throw new Error(`${page.url()}: ${await alert.textContent()}`);
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
  for (const offer of ["Forgot your password?", "Sign in with a passkey", "Sign in with Ethereum", 'id="one-tap-form"']) {
    assert.ok((await page.content()).includes(offer), `${offer} missing`);
  }
  ok("the hosted sign-in page offers the password, the passkey, the wallet and One Tap");

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

  // 4. A wallet: the page's provider asks Node to sign (personal_sign, EIP-191).
  await context.clearCookies();
  const account = privateKeyToAccount(WALLET_KEY);
  const W = await context.newPage();
  await W.exposeFunction("__personalSign", (hex) => account.signMessage({ message: { raw: hex } }));
  await W.addInitScript((address) => {
    window.ethereum = {
      request: async ({ method, params }) => {
        if (method === "eth_requestAccounts") return [address];
        if (method === "eth_chainId") return "0x1";
        if (method === "personal_sign") return window.__personalSign(params[0]);
        throw new Error(`unsupported ${method}`);
      },
    };
  }, account.address);
  await W.goto(AUTHORIZE_URL);
  await W.click('#siwe-form button[type="submit"]');
  await consent(W);
  await codeOf(W);
  ok("the hosted page's wallet button: the EIP-4361 message signed by the wallet signs in, and the flow ends with a code");

  // 5. One Tap: Google's library (a stand-in at its address) hands over the ID token.
  await context.clearCookies();
  await context.route("https://accounts.google.com/gsi/client", (r) =>
    r.fulfill({
      contentType: "text/javascript",
      body: `window.google = { accounts: { id: {
        initialize(o) { window.__gsi = o; },
        renderButton() {},
        prompt() { setTimeout(() => window.__gsi.callback({ credential: ${JSON.stringify(ID_TOKEN)}, select_by: "auto" }), 10); },
      } } };`,
    }),
  );
  const G = await context.newPage();
  await G.goto(AUTHORIZE_URL);
  await consent(G);
  await codeOf(G);
  ok("One Tap on the hosted page: Google's library loads under the page's CSP, its ID token signs in, and the flow ends with a code");
});
passed("hosted");
