// Drives Kavach's magic links with better-auth's own `magicLinkClient()` (npm package
// `better-auth`, pinned in package.json): `signIn.magicLink` asks for a link; the test
// that runs this script reads the email from a real SMTP server and hands the link over
// (`mailbox`); the script follows it in the same browser and checks the session.
// Usage: KAVACH_API=http://127.0.0.1:PORT/api/kavach EMAIL=... node magic-link.mjs
import { magicLinkClient } from "better-auth/client/plugins";
import { mailbox, script } from "./browser.mjs";

const { check, show, browser, passed } = script([magicLinkClient()], ["EMAIL"]);
const email = process.env.EMAIL;
const { client, fetchWithCookies } = browser();

const r = await client.signIn.magicLink({ email, name: "Magic", callbackURL: "/app", newUserCallbackURL: "/welcome" });
check(!r.error && r.data.status === true, `signIn.magicLink: ${show(r)}`);
const before = await client.getSession();
check(!before.data, "no session before the link is followed");
const link = await mailbox.link(email, "Sign in to");
const res = await fetchWithCookies(link, { redirect: "manual" });
check(res.status === 302 && res.headers.get("location") === "/welcome", `a new account lands on newUserCallbackURL: ${res.status} ${res.headers.get("location")}`);
const after = await client.getSession();
check(after.data?.user.email === email && after.data.user.emailVerified === true, `signed in, address verified: ${show(after)}`);
const again = await fetchWithCookies(link, { redirect: "manual" });
check(again.headers.get("location") === "/app?error=INVALID_TOKEN", `single use: ${again.headers.get("location")}`);

mailbox.close();
passed("magic-link");
