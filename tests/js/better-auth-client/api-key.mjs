// Drives Kavach's API keys with better-auth's own `apiKeyClient()` (npm package
// `@better-auth/api-key`, pinned in package.json): create (the key shown once), get,
// list, update, server-only fields refused, the key as a session on /get-session
// (`x-api-key`), delete.
// Usage: KAVACH_API=http://127.0.0.1:PORT/api/kavach node api-key.mjs
import { apiKeyClient } from "@better-auth/api-key/client";
import { script } from "./browser.mjs";

const { api, check, show, browser, passed } = script([apiKeyClient()]);
const { client } = browser();

let r = await client.signUp.email({ email: "keys@example.com", password: "a brand new passphrase 42", name: "Keys" });
check(!r.error, `signUp.email: ${show(r)}`);
r = await client.apiKey.create({ name: "ci", prefix: "kv_", expiresIn: 60 * 60 * 24 * 7, metadata: { team: "a" } });
check(!r.error && r.data.key.startsWith("kv_") && r.data.key.length === 67 && r.data.start === r.data.key.slice(0, 6), `apiKey.create: ${show(r)}`);
const { id, key } = r.data;
check(r.data.metadata?.team === "a" && r.data.enabled === true && new Date(r.data.expiresAt).getTime() > Date.now() + 6 * 86400e3, `the created key's fields: ${show(r)}`);
r = await client.apiKey.create({ name: "widened", permissions: { files: ["write"] } });
check(r.error?.status === 400 && r.error.code === "SERVER_ONLY_PROPERTY", `permissions are server-only: ${show(r)}`);
r = await client.apiKey.get({ query: { id } });
check(!r.error && r.data.id === id && r.data.key === undefined && r.data.name === "ci", `apiKey.get: ${show(r)}`);
r = await client.apiKey.list();
check(!r.error && r.data.total === 1 && r.data.apiKeys[0].id === id && !JSON.stringify(r.data).includes(key), `apiKey.list: ${show(r)}`);
r = await client.apiKey.update({ keyId: id, name: "renamed" });
check(!r.error && r.data.name === "renamed", `apiKey.update: ${show(r)}`);

// The key as a session for /get-session (a program, no cookie).
let res = await fetch(`${api}/get-session`, { headers: { "x-api-key": key } });
let body = await res.json();
check(res.status === 200 && body?.user?.email === "keys@example.com", `x-api-key on /get-session: ${res.status} ${JSON.stringify(body)}`);
res = await fetch(`${api}/get-session`, { headers: { "x-api-key": `${key}nope` } });
check(res.status === 401, `a wrong key is refused: ${res.status}`);
res = await fetch(`${api}/api-key/list`, { headers: { "x-api-key": key } });
check(res.status === 401, `a key is not a session elsewhere: ${res.status}`);

r = await client.apiKey.delete({ keyId: id });
check(!r.error && r.data.success === true, `apiKey.delete: ${show(r)}`);
res = await fetch(`${api}/get-session`, { headers: { "x-api-key": key } });
check(res.status === 401, `a deleted key is refused: ${res.status}`);

passed("api-key");
