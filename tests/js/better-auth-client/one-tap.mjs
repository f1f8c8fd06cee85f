// Drives Kavach's Google One Tap route with better-auth's own client and `oneTapClient()`
// (npm package `better-auth`): the ID tokens Google's script would hand the page come from
// the Rust test (signed by its stand-in for Google's keys) in ID_TOKENS, and are posted
// to `/one-tap/callback` with the body the plugin sends. A sign-in creating the user, a
// token for another client, a forged token, an unverified address someone holds, and an
// untrusted callback URL.
// Usage: KAVACH_API=http://127.0.0.1:PORT/api/kavach ID_TOKENS='{...}' node one-tap.mjs
import { oneTapClient } from "better-auth/client/plugins";
import { script } from "./browser.mjs";

const { check, show, browser, passed } = script([oneTapClient({ clientId: "1234-test.apps.googleusercontent.com" })], ["ID_TOKENS"]);
const tokens = JSON.parse(process.env.ID_TOKENS);
const tap = (client, idToken, callbackURL) => client.$fetch("/one-tap/callback", { method: "POST", body: { idToken, callbackURL } });

let { client } = browser();
let r = await tap(client, tokens.ok, "/");
check(!r.error && typeof r.data.token === "string" && r.data.user.email === "tap@gmail.com", `one-tap callback: ${show(r)}`);
check(r.data.user.emailVerified === true, `Google verified the address: ${show(r)}`);
const s = await client.getSession();
check(s.data?.user.email === "tap@gmail.com", `signed in: ${show(s)}`);

({ client } = browser());
r = await tap(client, tokens.otherClient);
check(r.error?.status === 400 && r.error.code === "INVALID_ID_TOKEN", `a token for another client: ${show(r)}`);
r = await tap(client, tokens.forged);
check(r.error?.status === 400 && r.error.code === "INVALID_ID_TOKEN", `a forged token: ${show(r)}`);
r = await tap(client, tokens.unverifiedHeld);
check(r.error?.status === 403 && r.error.code === "ACCOUNT_NOT_LINKED", `an unverified address someone holds: ${show(r)}`);
r = await tap(client, tokens.ok, "https://evil.example/");
check(r.error?.status === 403 && r.error.code === "INVALID_CALLBACK_URL", `an untrusted callback URL: ${show(r)}`);

passed("one-tap");
