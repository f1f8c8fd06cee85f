// Drives Kavach's two-factor capability with better-auth's own `twoFactorClient()` (npm
// package `better-auth`, pinned in package.json): set up TOTP, the sign-in held back
// until a code, trusted devices, backup codes (single use), new codes, the URI again,
// and turning it off. Each browser has a cookie jar of its own. Exits non-zero on the
// first failed check.
// Usage: KAVACH_API=http://127.0.0.1:PORT/api/kavach node two-factor.mjs
import { createAuthClient } from "better-auth/client";
import { twoFactorClient } from "better-auth/client/plugins";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { cookieFetch } from "./browser.mjs";

const api = process.env.KAVACH_API;
if (!api) throw new Error("set KAVACH_API");
const origin = process.env.KAVACH_ORIGIN || new URL(api).origin;

let checks = 0;
const check = (cond, msg) => { assert.ok(cond, msg); checks++; };
const show = (r) => JSON.stringify(r.error ?? r.data);

// RFC 6238 with the secret of an otpauth:// URI: written here from the RFC, so the
// check does not share code with the server.
function base32Decode(s) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, value = 0;
  const out = [];
  for (const c of s.replace(/=+$/, "").toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) { bits -= 8; out.push((value >>> bits) & 0xff); }
  }
  return Buffer.from(out);
}
function totp(uri, stepOffset = 0) {
  const secret = base32Decode(new URL(uri).searchParams.get("secret"));
  const counter = Math.floor(Date.now() / 1000 / 30) + stepOffset;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac("sha1", secret).update(msg).digest();
  const o = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(o) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, "0");
}

let redirects = 0;
function browser() {
  const { jar, fetchWithCookies } = cookieFetch(origin);
  const client = createAuthClient({
    baseURL: api,
    fetchOptions: { customFetchImpl: fetchWithCookies },
    plugins: [twoFactorClient({ onTwoFactorRedirect: () => { redirects++; } })],
  });
  return { client, jar };
}

const email = `tf-${Date.now()}@example.com`;
const password = "correct horse battery staple 2";

// 1. Sign up (signed in at once) and set up TOTP: the URI and ten backup codes.
const { client: a } = browser();
{
  const r = await a.signUp.email({ email, password, name: "Two Factor" });
  check(!r.error, `sign-up: ${show(r)}`);
}
const bad = await a.twoFactor.enable({ password: "not the password" });
check(bad.error?.status === 400 && bad.error.code === "INVALID_PASSWORD", `enable needs the password: ${show(bad)}`);
const enabled = await a.twoFactor.enable({ password });
check(!enabled.error && enabled.data.totpURI.startsWith("otpauth://totp/"), `enable: ${show(enabled)}`);
check(enabled.data.backupCodes.length === 10, "ten backup codes");
const uri = enabled.data.totpURI;
const codes = enabled.data.backupCodes;
{
  const s = await a.getSession();
  check(!s.data.user.twoFactorEnabled, "not on before the first code");
  const r = await a.twoFactor.verifyTotp({ code: totp(uri, -1) });
  check(!r.error, `the first code turns it on: ${show(r)}`);
  const after = await a.getSession();
  check(after.data.user.twoFactorEnabled === true, `twoFactorEnabled: ${show(after)}`);
}
await a.signOut();

// 2. The password alone gives no session: the client is told to ask for a code.
const { client: b } = browser();
{
  const r = await b.signIn.email({ email, password });
  check(!r.error && r.data.twoFactorRedirect === true, `sign-in is held back: ${show(r)}`);
  check(JSON.stringify(r.data.twoFactorMethods) === JSON.stringify(["totp", "otp"]), `methods: ${show(r)}`);
  check(redirects === 1, "onTwoFactorRedirect ran");
  const s = await b.getSession();
  check(!s.data, `no session before the code: ${show(s)}`);
  const wrong = await b.twoFactor.verifyTotp({ code: totp(uri, -1) === "000000" ? "111111" : "000000" });
  check(wrong.error?.status === 401 && wrong.error.code === "INVALID_CODE", `a wrong code: ${show(wrong)}`);
  const ok = await b.twoFactor.verifyTotp({ code: totp(uri, 0), trustDevice: true });
  check(!ok.error && ok.data.user.email === email && typeof ok.data.token === "string", `the code signs in: ${show(ok)}`);
  const after = await b.getSession();
  check(after.data?.user.email === email, `signed in: ${show(after)}`);
  const replay = await browser().client.twoFactor.verifyTotp({ code: totp(uri, 0) });
  check(replay.error?.status === 401, `no pending sign-in, no session: ${show(replay)}`);
}
await b.signOut();

// 3. The trusted browser skips the second factor.
{
  const r = await b.signIn.email({ email, password });
  check(!r.error && !r.data.twoFactorRedirect && r.data.user.email === email, `a trusted device signs in at once: ${show(r)}`);
}

// 4. Elsewhere, a backup code works once.
{
  const { client: c } = browser();
  await c.signIn.email({ email, password });
  const r = await c.twoFactor.verifyBackupCode({ code: codes[0] });
  check(!r.error && r.data.user.email === email, `a backup code signs in: ${show(r)}`);
  const { client: d } = browser();
  await d.signIn.email({ email, password });
  const again = await d.twoFactor.verifyBackupCode({ code: codes[0] });
  check(again.error?.status === 401 && again.error.code === "INVALID_BACKUP_CODE", `a used backup code: ${show(again)}`);
  const s = await d.getSession();
  check(!s.data, "still no session");
}

// 5. New backup codes, the URI again, and off.
{
  const fresh = await b.twoFactor.generateBackupCodes({ password });
  check(!fresh.error && fresh.data.backupCodes.length === 10 && !fresh.data.backupCodes.includes(codes[1]), `new codes: ${show(fresh)}`);
  const again = await b.twoFactor.getTotpUri({ password });
  check(!again.error && new URL(again.data.totpURI).searchParams.get("secret") === new URL(uri).searchParams.get("secret"), `the URI again: ${show(again)}`);
  const off = await b.twoFactor.disable({ password });
  check(!off.error && off.data.status === true, `disable: ${show(off)}`);
  const { client: e } = browser();
  const r = await e.signIn.email({ email, password });
  check(!r.error && !r.data.twoFactorRedirect, `off: the password signs in: ${show(r)}`);
}

console.log(`two-factor: ${checks} checks passed`);
