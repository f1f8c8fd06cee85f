// Drives Kavach's codes by email with better-auth's own `emailOTPClient()` (npm package
// `better-auth`, pinned in package.json): sign-in (creating the account), a wrong code,
// password reset, email change and email verification. The Rust test that runs this
// script reads each code from a real SMTP server and hands it over (`mailbox`).
// Usage: KAVACH_API=http://127.0.0.1:PORT/api/kavach EMAIL=... node email-otp.mjs
import { emailOTPClient } from "better-auth/client/plugins";
import { mailbox, script } from "./browser.mjs";

const { check, show, browser, passed } = script([emailOTPClient()], ["EMAIL"]);
const email = process.env.EMAIL;
const { client } = browser();

// Sign-in with a code, creating the account.
let r = await client.emailOtp.sendVerificationOtp({ email, type: "sign-in" });
check(!r.error && r.data.success === true, `sendVerificationOtp: ${show(r)}`);
let code = await mailbox.code(email, "sign-in code");
const wrong = code === "000000" ? "111111" : "000000";
r = await client.signIn.emailOtp({ email, otp: wrong });
check(r.error?.status === 400 && r.error.code === "INVALID_OTP", `a wrong code: ${show(r)}`);
r = await client.signIn.emailOtp({ email, otp: code });
check(!r.error && typeof r.data.token === "string" && r.data.user.email === email, `signIn.emailOtp: ${show(r)}`);
let s = await client.getSession();
check(s.data?.user.email === email && s.data.user.emailVerified === true, `signed in, address verified: ${show(s)}`);
r = await client.signIn.emailOtp({ email, otp: code });
check(r.error?.code === "INVALID_OTP", `a code works once: ${show(r)}`);

// Email change: a code to the new address.
const moved = email.replace("@", "+moved@");
r = await client.emailOtp.requestEmailChange({ newEmail: moved });
check(!r.error && r.data.success === true, `requestEmailChange: ${show(r)}`);
code = await mailbox.code(moved, "Confirm your new");
r = await client.emailOtp.changeEmail({ newEmail: moved, otp: code });
check(!r.error && r.data.success === true, `changeEmail: ${show(r)}`);
s = await client.getSession();
check(s.data?.user.email === moved, `the account moved: ${show(s)}`);

// Password reset with a code: it ends every session.
r = await client.emailOtp.requestPasswordReset({ email: moved });
check(!r.error && r.data.success === true, `requestPasswordReset: ${show(r)}`);
code = await mailbox.code(moved, "password reset code");
r = await client.emailOtp.checkVerificationOtp({ email: moved, type: "forget-password", otp: code });
check(!r.error && r.data.success === true, `checkVerificationOtp: ${show(r)}`);
const password = "a brand new passphrase 42";
r = await client.emailOtp.resetPassword({ email: moved, otp: code, password });
check(!r.error && r.data.success === true, `resetPassword: ${show(r)}`);
s = await client.getSession();
check(!s.data, `the reset ended the session: ${show(s)}`);
r = await client.signIn.email({ email: moved, password });
check(!r.error && r.data.user.email === moved, `the new password signs in: ${show(r)}`);

// Verification of an address signed up with a password.
const other = email.replace("@", "+other@");
r = await client.signUp.email({ email: other, password, name: "Other" });
check(!r.error && r.data.user.emailVerified === false, `signUp.email: ${show(r)}`);
r = await client.emailOtp.sendVerificationOtp({ email: other, type: "email-verification" });
check(!r.error && r.data.success === true, `sendVerificationOtp (email-verification): ${show(r)}`);
code = await mailbox.code(other, "Verify your");
r = await client.emailOtp.verifyEmail({ email: other, otp: code });
check(!r.error && r.data.status === true && r.data.user.emailVerified === true, `verifyEmail: ${show(r)}`);

mailbox.close();
passed("email-otp");
