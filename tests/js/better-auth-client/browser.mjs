import { createAuthClient } from "better-auth/client";
import assert from "node:assert/strict";
import { createInterface } from "node:readline";

// One browser for the client scripts: a cookie jar around fetch, sending the page's
// Origin (Kavach checks it on cookie-carrying writes), keeping the cookies answers set
// and dropping the ones they expire.
export function cookieFetch(origin) {
  const jar = new Map();
  async function fetchWithCookies(input, init = {}) {
    const headers = new Headers(init.headers || {});
    if (jar.size) headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    headers.set("origin", origin);
    const res = await fetch(input, { ...init, headers });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(";");
      const i = pair.indexOf("=");
      const name = pair.slice(0, i).trim(), value = pair.slice(i + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired || value === "") jar.delete(name); else jar.set(name, value);
    }
    return res;
  }
  return { jar, fetchWithCookies };
}

// The user's mailbox and phone, read by the Rust test that runs the script:
// `mailbox.code(to, subject)` prints `CODE <to> <subject>` and resolves to the code ending
// the next such message's subject; `mailbox.link(to, subject)` the first link of its body;
// `mailbox.sms(number)` the code of the next text message to the number.
let lines;
async function ask(what, to, subject) {
  lines ??= createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  console.log(`${what} ${to} ${subject}`);
  const { value, done } = await lines.next();
  if (done) throw new Error(`no answer to ${what} ${to} ${subject}`);
  return value.trim();
}
export const mailbox = {
  code: (to, subject) => ask("CODE", to, subject),
  link: (to, subject) => ask("LINK", to, subject),
  sms: (number) => ask("SMS", number, ""),
  close: () => process.stdin.destroy(),
};

// What a client script shares: where Kavach is (KAVACH_API, and the other variables it
// needs), a count of passed checks, and browsers: better-auth's client with the script's
// plugins, over a cookie jar of its own.
export function script(plugins, needs = []) {
  const missing = ["KAVACH_API", ...needs].filter((k) => !process.env[k]);
  if (missing.length) throw new Error(`set ${missing.join(" and ")}`);
  const api = process.env.KAVACH_API;
  const origin = process.env.KAVACH_ORIGIN || new URL(api).origin;
  let checks = 0;
  return {
    api,
    check: (cond, msg) => { assert.ok(cond, msg); checks++; },
    show: (r) => JSON.stringify(r.error ?? r.data),
    browser: () => {
      const { fetchWithCookies } = cookieFetch(origin);
      return { fetchWithCookies, client: createAuthClient({ baseURL: api, fetchOptions: { customFetchImpl: fetchWithCookies }, plugins }) };
    },
    passed: (name) => console.log(`${name}: ${checks} checks passed`),
  };
}
