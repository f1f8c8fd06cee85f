// Drives Kavach's additional user fields with better-auth's own client and its
// `inferAdditionalFields()` plugin (npm package `better-auth`): the fields given at
// sign-up come back as members of the user, the defaults fill the others, `updateUser`
// changes the settable ones, and fields requests cannot set, values of the wrong type
// and undeclared fields are refused.
// Usage: KAVACH_API=http://127.0.0.1:PORT/api/kavach EMAIL=... node additional-fields.mjs
import { inferAdditionalFields } from "better-auth/client/plugins";
import { script } from "./browser.mjs";

const fields = { user: { birthdate: { type: "date", required: true }, plan: { type: "string", input: false }, newsletter: { type: "boolean", required: false } } };
const { check, show, browser, passed } = script([inferAdditionalFields(fields)], ["EMAIL"]);
const email = process.env.EMAIL;
const password = "a long enough passphrase 7";

let { client } = browser();
let r = await client.signUp.email({ email, password, name: "Fields", birthdate: "1990-05-17", newsletter: true });
check(!r.error && r.data.user.birthdate === "1990-05-17" && r.data.user.newsletter === true, `signUp.email with fields: ${show(r)}`);
check(r.data.user.plan === "free", `the default: ${show(r)}`);
let s = await client.getSession();
check(s.data?.user.birthdate === "1990-05-17" && s.data.user.plan === "free", `getSession: ${show(s)}`);
r = await client.updateUser({ newsletter: false });
check(!r.error, `updateUser: ${show(r)}`);
s = await client.getSession();
check(s.data?.user.newsletter === false, `changed: ${show(s)}`);
r = await client.updateUser({ plan: "pro" });
check(r.error?.status === 400 && r.error.code === "FIELD_NOT_ALLOWED", `a field requests cannot set: ${show(r)}`);
r = await client.updateUser({ birthdate: "soon" });
check(r.error?.status === 400 && r.error.code === "VALIDATION_ERROR", `the wrong type: ${show(r)}`);
({ client } = browser());
r = await client.signUp.email({ email: `other.${email}`, password, name: "Other", birthdate: "1990-05-17", nickname: "x" });
check(r.error?.status === 400 && r.error.code === "VALIDATION_ERROR", `an undeclared field: ${show(r)}`);
r = await client.signUp.email({ email: `other.${email}`, password, name: "Other" });
check(r.error?.status === 400 && /birthdate/.test(r.error.message), `a required field: ${show(r)}`);

passed("additional-fields");
