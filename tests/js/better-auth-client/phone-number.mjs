// Drives Kavach's phone numbers with better-auth's own `phoneNumberClient()` (npm package
// `better-auth`, pinned in package.json): a code by text message signs up and in, a
// wrong code, the number and password sign-in, password reset, and attaching a number to
// a signed-in account. The Rust test that runs this script plays the SMS provider and
// hands each code over (`mailbox.sms`).
// Usage: KAVACH_API=http://127.0.0.1:PORT/api/kavach PHONE=+1... OTHER_PHONE=+1... node phone-number.mjs
import { phoneNumberClient } from "better-auth/client/plugins";
import { mailbox, script } from "./browser.mjs";

const { check, show, browser, passed } = script([phoneNumberClient()], ["PHONE", "OTHER_PHONE"]);
const phone = process.env.PHONE;
const other = process.env.OTHER_PHONE;
let { client } = browser();

// A code signs up and in.
let r = await client.phoneNumber.sendOtp({ phoneNumber: phone });
check(!r.error && r.data.message === "code sent", `phoneNumber.sendOtp: ${show(r)}`);
let code = await mailbox.sms(phone);
const wrong = code === "000000" ? "111111" : "000000";
r = await client.phoneNumber.verify({ phoneNumber: phone, code: wrong });
check(r.error?.status === 400 && r.error.code === "INVALID_OTP", `a wrong code: ${show(r)}`);
r = await client.phoneNumber.verify({ phoneNumber: phone, code });
check(!r.error && r.data.status === true && typeof r.data.token === "string" && r.data.user.phoneNumber === phone, `phoneNumber.verify: ${show(r)}`);
let s = await client.getSession();
check(s.data?.user.phoneNumber === phone && s.data.user.phoneNumberVerified === true, `signed in, number proven: ${show(s)}`);

// A password by reset code, then the number and password sign in.
const password = "a brand new passphrase 42";
r = await client.phoneNumber.requestPasswordReset({ phoneNumber: phone });
check(!r.error && r.data.status === true, `phoneNumber.requestPasswordReset: ${show(r)}`);
code = await mailbox.sms(phone);
r = await client.phoneNumber.resetPassword({ phoneNumber: phone, otp: code, newPassword: password });
check(!r.error && r.data.status === true, `phoneNumber.resetPassword: ${show(r)}`);
s = await client.getSession();
check(!s.data, `the reset ended the session: ${show(s)}`);
r = await client.signIn.phoneNumber({ phoneNumber: phone, password: "not the password" });
check(r.error?.status === 401 && r.error.code === "INVALID_PHONE_NUMBER_OR_PASSWORD", `a wrong password: ${show(r)}`);
r = await client.signIn.phoneNumber({ phoneNumber: phone, password });
check(!r.error && typeof r.data.token === "string" && r.data.user.phoneNumber === phone, `signIn.phoneNumber: ${show(r)}`);

// Another account attaches a second number.
({ client } = browser());
r = await client.signUp.email({ email: "phone-owner@example.com", password, name: "Owner" });
check(!r.error, `signUp.email: ${show(r)}`);
r = await client.phoneNumber.sendOtp({ phoneNumber: other });
code = await mailbox.sms(other);
r = await client.phoneNumber.verify({ phoneNumber: other, code, updatePhoneNumber: true });
check(!r.error && r.data.user.phoneNumber === other && r.data.user.email === "phone-owner@example.com", `verify with updatePhoneNumber: ${show(r)}`);
s = await client.getSession();
check(s.data?.user.phoneNumber === other, `the account has the number: ${show(s)}`);

mailbox.close();
passed("phone-number");
