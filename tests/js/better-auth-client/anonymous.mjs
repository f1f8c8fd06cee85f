// Drives Kavach's anonymous users with better-auth's own `anonymousClient()` (npm package
// `better-auth`, pinned in package.json): an anonymous sign-in, no second one from the
// same session, a route that needs a real identity refused, sign-up from the anonymous
// session (the account replaces it), and an anonymous user deleting itself.
// Usage: KAVACH_API=http://127.0.0.1:PORT/api/kavach EMAIL=... node anonymous.mjs
import { anonymousClient } from "better-auth/client/plugins";
import { script } from "./browser.mjs";

const { check, show, browser, passed } = script([anonymousClient()], ["EMAIL"]);
const email = process.env.EMAIL;

// A visitor becomes an anonymous user, then signs up.
let { client } = browser();
let r = await client.signIn.anonymous();
check(!r.error && typeof r.data.token === "string" && r.data.user.isAnonymous === true, `signIn.anonymous: ${show(r)}`);
const anonymousId = r.data.user.id;
let s = await client.getSession();
check(s.data?.user.isAnonymous === true && s.data.user.id === anonymousId, `an anonymous session: ${show(s)}`);
r = await client.signIn.anonymous();
check(r.error?.code === "ANONYMOUS_USERS_CANNOT_SIGN_IN_AGAIN_ANONYMOUSLY", `no second anonymous sign-in: ${show(r)}`);
r = await client.changePassword({ currentPassword: "x".repeat(12), newPassword: "y".repeat(16) });
check(r.error?.status === 403 && r.error.code === "ANONYMOUS_USER_NOT_ALLOWED", `a real identity is needed: ${show(r)}`);
r = await client.signUp.email({ email, password: "a brand new passphrase 42", name: "Real" });
check(!r.error && r.data.user.email === email, `signUp.email from the anonymous session: ${show(r)}`);
s = await client.getSession();
check(s.data?.user.email === email && !s.data.user.isAnonymous, `the account replaced the anonymous user: ${show(s)}`);
r = await client.deleteAnonymousUser();
check(r.error?.status === 403 && r.error.code === "USER_IS_NOT_ANONYMOUS", `a real user cannot use deleteAnonymousUser: ${show(r)}`);

// Another visitor deletes its anonymous user.
({ client } = browser());
r = await client.signIn.anonymous();
check(!r.error && r.data.user.isAnonymous === true, `signIn.anonymous: ${show(r)}`);
r = await client.deleteAnonymousUser();
check(!r.error && r.data.success === true, `deleteAnonymousUser: ${show(r)}`);
s = await client.getSession();
check(!s.data, `signed out: ${show(s)}`);

console.log(`ANONYMOUS_ID ${anonymousId}`);
passed("anonymous");
