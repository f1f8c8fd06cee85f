// What the browser scripts share: Chromium (Debian's, at CHROMIUM) driven by
// playwright-core; a test page carrying better-auth's client with `passkeyClient()`
// (bundled by esbuild), served by the browser context itself on whichever origin a test
// opens it (`<origin>/__test`: Kavach does not serve it); tabs with a virtual platform
// authenticator (CDP `WebAuthn.addVirtualAuthenticator`, user verification on); and a
// count of passed checks.

import { build } from "esbuild";
import { chromium } from "playwright-core";

let checks = 0;
export const ok = (what) => {
  checks++;
  console.log(`PASS  ${what}`);
};
export const passed = (name) => console.log(`${name}: ${checks} checks passed`);

const entry = `
import { createAuthClient } from "better-auth/client";
import { passkeyClient } from "@better-auth/passkey/client";
window.makeClient = (baseURL) => createAuthClient({ baseURL, plugins: [passkeyClient()] });`;

// The browser and a context with the test page routed in; `run(context)` then closes it.
export async function withBrowser(run) {
  const bundle = (await build({ stdin: { contents: entry, resolveDir: process.cwd() }, bundle: true, write: false, format: "iife", platform: "browser", logLevel: "error" }))
    .outputFiles[0].text;
  const html = `<!doctype html><meta charset="utf-8"><title>test</title><script>${bundle}</script>`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  try {
    const context = await browser.newContext();
    await context.route("**/__test", (r) => r.fulfill({ contentType: "text/html", body: html }));
    await run(context);
  } finally {
    await browser.close();
  }
}

// A tab with its own virtual authenticator, prepared by `route(page)` before it opens
// `at/__test` (when `at` is given) with `window.c`, a better-auth client on `at + basePath`.
export async function tab(context, { at, basePath = "", route } = {}) {
  const page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && console.log(`[console] ${m.text()}`));
  if (route) await route(page);
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  if (at) {
    await page.goto(`${at}/__test`);
    await page.evaluate((base) => {
      window.c = window.makeClient(base);
    }, `${at}${basePath}`);
  }
  const credentials = async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
  const addCredential = (credential) => cdp.send("WebAuthn.addCredential", { authenticatorId, credential });
  return { page, run: (fn, arg) => page.evaluate(fn, arg), credentials, addCredential };
}
