// Drives Kavach's Sign-In with Ethereum with better-auth's own `siweClient()` (npm package
// `better-auth`) and a real wallet library (viem, both pinned in package.json): viem's
// `createSiweMessage` writes the EIP-4361 message and its local account signs it
// (EIP-191), as a browser wallet would. A nonce, a sign-in creating the user, the same
// wallet signing in again, a replayed message, a forged signature, a message for another
// domain, the alias route, and the signed-in user's wallets.
// Usage: KAVACH_API=http://127.0.0.1:PORT/api/kavach node siwe.mjs
import { siweClient } from "better-auth/client/plugins";
import { privateKeyToAccount } from "viem/accounts";
import { createSiweMessage } from "viem/siwe";
import { script } from "./browser.mjs";

const { api, check, show, browser, passed } = script([siweClient()]);
// The site the wallet signs in to: the server's public origin (its base URL).
const { host: domain, origin } = new URL(process.env.KAVACH_ORIGIN || api);
const wallet = privateKeyToAccount(`0x${"11".repeat(32)}`);
const mallory = privateKeyToAccount(`0x${"22".repeat(32)}`);

const message = (nonce, extra = {}) =>
  createSiweMessage({ address: wallet.address, chainId: 1, domain, nonce, uri: origin, version: "1", statement: "Sign in to the Kavach test", ...extra });

let { client } = browser();
let r = await client.siwe.nonce();
check(!r.error && /^[a-zA-Z0-9]{8,}$/.test(r.data.nonce), `siwe.nonce: ${show(r)}`);
const text = message(r.data.nonce);
const signature = await wallet.signMessage({ message: text });
r = await client.siwe.verify({ message: text, signature });
check(!r.error && r.data.success === true && typeof r.data.token === "string", `siwe.verify: ${show(r)}`);
check(r.data.user.walletAddress === wallet.address && r.data.user.chainId === 1, `the wallet in the answer: ${show(r)}`);
const userId = r.data.user.id;
let s = await client.getSession();
check(s.data?.user.id === userId, `signed in: ${show(s)}`);
r = await client.$fetch("/siwe/wallets", { method: "GET" });
check(!r.error && r.data.length === 1 && r.data[0].address === wallet.address && r.data[0].isPrimary, `the user's wallets: ${show(r)}`);

// The same message again: its nonce is spent.
r = await client.siwe.verify({ message: text, signature });
check(r.error?.status === 401 && r.error.code === "UNAUTHORIZED_INVALID_OR_EXPIRED_NONCE", `a replay is refused: ${show(r)}`);

// Another browser: Mallory signs a message naming the wallet's address.
({ client } = browser());
r = await client.siwe.getNonce();
check(!r.error && r.data.nonce, `siwe.getNonce (the alias): ${show(r)}`);
const forged = message(r.data.nonce);
r = await client.siwe.verify({ message: forged, signature: await mallory.signMessage({ message: forged }) });
check(r.error?.status === 401 && r.error.code === "INVALID_SIWE_SIGNATURE", `a forged signature is refused: ${show(r)}`);
r = await client.siwe.nonce();
const elsewhere = message(r.data.nonce, { domain: "evil.example" });
r = await client.siwe.verify({ message: elsewhere, signature: await wallet.signMessage({ message: elsewhere }) });
check(r.error?.status === 401 && r.error.code === "UNAUTHORIZED_SIWE_MESSAGE_MISMATCH", `another site's message is refused: ${show(r)}`);
s = await client.getSession();
check(!s.data, `nothing signed in: ${show(s)}`);

// The wallet signs in again, to the same user.
r = await client.siwe.nonce();
const again = message(r.data.nonce, { issuedAt: new Date() });
r = await client.siwe.verify({ message: again, signature: await wallet.signMessage({ message: again }) });
check(!r.error && r.data.user.id === userId, `the same user again: ${show(r)}`);

console.log(`WALLET ${wallet.address}`);
passed("siwe");
