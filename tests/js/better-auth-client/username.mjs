// Drives Kavach's usernames with better-auth's own `usernameClient()` (npm package
// `better-auth`, pinned in package.json): sign-up with a username, availability,
// sign-in by username (and the refusals), and changing it. Exits non-zero on the first
// failed check.
// Usage: KAVACH_API=http://127.0.0.1:PORT/api/kavach node username.mjs
import { createAuthClient } from "better-auth/client";
import { usernameClient } from "better-auth/client/plugins";
import assert from "node:assert/strict";
import { cookieFetch } from "./browser.mjs";

const api = process.env.KAVACH_API;
if (!api) throw new Error("set KAVACH_API");
const origin = process.env.KAVACH_ORIGIN || new URL(api).origin;

let checks = 0;
const check = (cond, msg) => { assert.ok(cond, msg); checks++; };
const show = (r) => JSON.stringify(r.error ?? r.data);
function browser() {
  const { fetchWithCookies } = cookieFetch(origin);
  return createAuthClient({ baseURL: api, fetchOptions: { customFetchImpl: fetchWithCookies }, plugins: [usernameClient()] });
}

const ts = Date.now();
const email = `user-${ts}@example.com`;
const name = `Neo_${ts}`;
const password = "correct horse battery staple 3";

const a = browser();
{
  const free = await a.isUsernameAvailable({ username: name });
  check(!free.error && free.data.available === true, `available before: ${show(free)}`);
  const r = await a.signUp.email({ email, password, name: "Neo", username: name, displayUsername: name });
  check(!r.error && r.data.user.username === name.toLowerCase() && r.data.user.displayUsername === name, `sign-up with a username: ${show(r)}`);
  const taken = await a.isUsernameAvailable({ username: name.toUpperCase() });
  check(!taken.error && taken.data.available === false, `taken, whatever the case: ${show(taken)}`);
  const reserved = await a.isUsernameAvailable({ username: "admin" });
  check(!reserved.error && reserved.data.available === false, `reserved: ${show(reserved)}`);
  const bad = await a.isUsernameAvailable({ username: "a b" });
  check(bad.error?.status === 422 && bad.error.code === "INVALID_USERNAME", `not a username: ${show(bad)}`);
  const dup = await browser().signUp.email({ email: `dup-${ts}@example.com`, password, name: "Dup", username: name });
  check(dup.error?.code === "USERNAME_IS_ALREADY_TAKEN", `a taken username at sign-up: ${show(dup)}`);
}

const b = browser();
{
  const wrong = await b.signIn.username({ username: name, password: "not the password" });
  check(wrong.error?.status === 401 && wrong.error.code === "INVALID_USERNAME_OR_PASSWORD", `wrong password: ${show(wrong)}`);
  const unknown = await b.signIn.username({ username: `ghost_${ts}`, password });
  check(unknown.error?.status === 401 && unknown.error.code === "INVALID_USERNAME_OR_PASSWORD", `unknown name, same answer: ${show(unknown)}`);
  const r = await b.signIn.username({ username: name.toUpperCase(), password });
  check(!r.error && r.data.user.email === email && typeof r.data.token === "string", `sign-in by username: ${show(r)}`);
  const s = await b.getSession();
  check(s.data?.user.username === name.toLowerCase(), `session: ${show(s)}`);
  const renamed = `trinity_${ts}`;
  const u = await b.updateUser({ username: renamed });
  check(!u.error, `update-user with a username: ${show(u)}`);
  const after = await b.getSession();
  check(after.data?.user.username === renamed && after.data.user.displayUsername === renamed, `renamed: ${show(after)}`);
  const old = await b.isUsernameAvailable({ username: name });
  check(!old.error && old.data.available === true, "the old name is free again");
}

console.log(`username: ${checks} checks passed`);
