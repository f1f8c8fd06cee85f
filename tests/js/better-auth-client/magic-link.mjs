// Drives Kavach's magic links with better-auth's own `magicLinkClient()` (npm package
// `better-auth`, pinned in package.json): `signIn.magicLink` asks for a link; the test
// that runs this script reads the email from a real SMTP server and writes the link on
// standard input; the script follows it in the same browser and checks the session.
// Usage: KAVACH_API=http://127.0.0.1:PORT/api/kavach EMAIL=... node magic-link.mjs
import { createAuthClient } from "better-auth/client";
import { magicLinkClient } from "better-auth/client/plugins";
import assert from "node:assert/strict";
import { createInterface } from "node:readline";
import { cookieFetch } from "./browser.mjs";

const api = process.env.KAVACH_API;
const email = process.env.EMAIL;
if (!api || !email) throw new Error("set KAVACH_API and EMAIL");
const origin = process.env.KAVACH_ORIGIN || new URL(api).origin;

let checks = 0;
const check = (cond, msg) => { assert.ok(cond, msg); checks++; };
const show = (r) => JSON.stringify(r.error ?? r.data);

const { fetchWithCookies } = cookieFetch(origin);
const client = createAuthClient({ baseURL: api, fetchOptions: { customFetchImpl: fetchWithCookies }, plugins: [magicLinkClient()] });

const r = await client.signIn.magicLink({ email, name: "Magic", callbackURL: "/app", newUserCallbackURL: "/welcome" });
check(!r.error && r.data.status === true, `signIn.magicLink: ${show(r)}`);
const before = await client.getSession();
check(!before.data, "no session before the link is followed");
console.log("SENT");

const lines = createInterface({ input: process.stdin });
const link = await new Promise((resolve) => lines.once("line", resolve));
lines.close();
const res = await fetchWithCookies(link, { redirect: "manual" });
check(res.status === 302 && res.headers.get("location") === "/welcome", `a new account lands on newUserCallbackURL: ${res.status} ${res.headers.get("location")}`);
const after = await client.getSession();
check(after.data?.user.email === email && after.data.user.emailVerified === true, `signed in, address verified: ${show(after)}`);
const again = await fetchWithCookies(link, { redirect: "manual" });
check(again.headers.get("location") === "/app?error=INVALID_TOKEN", `single use: ${again.headers.get("location")}`);

console.log(`magic-link: ${checks} checks passed`);
