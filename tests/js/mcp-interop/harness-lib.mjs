// The browser step and the request trace of Kavach's interop scripts (tests/js/mcp-interop,
// also copied beside tests/js/oidc-client by the Rust test). The browser: a real Kavach
// session cookie (SESSION_COOKIE) signs the user in, and the consent page is answered by
// posting its form, as a person clicking "Allow" would. The trace: importing this module
// wraps fetch, and every request the client sends is appended to $TRACE, one JSON line
// each (secrets truncated, the port written PORT).
import fs from 'node:fs';

const cookie = process.env.SESSION_COOKIE;
const trace = process.env.TRACE;
const realFetch = globalThis.fetch;
let seq = 0;
const cut = (v) => (typeof v === 'string' && v.length > 12 ? `${v.slice(0, 8)}…` : v);
const SECRET = /^(code|code_verifier|refresh_token|access_token|client_secret|token|request_uri|client_assertion|registration_access_token|flow|csrf|password|state|code_challenge)$/;

function record(method, url, headers, body) {
  if (!trace) return;
  const h = new Headers(headers ?? {});
  let b;
  if (typeof body === 'string') {
    try { b = JSON.parse(body); } catch { b = Object.fromEntries(new URLSearchParams(body)); }
    if (b && typeof b === 'object') for (const k of Object.keys(b)) if (SECRET.test(k)) b[k] = cut(b[k]);
  } else if (body instanceof URLSearchParams) {
    b = Object.fromEntries(body); for (const k of Object.keys(b)) if (SECRET.test(k)) b[k] = cut(b[k]);
  }
  const u = new URL(url);
  for (const [k, v] of [...u.searchParams]) if (SECRET.test(k)) u.searchParams.set(k, cut(v));
  const auth = h.get('authorization');
  const line = { seq: ++seq, method, url: u.href.replace(/:\d+\//, ':PORT/'), authorization: auth ? auth.split(' ')[0] : undefined,
    mcp_protocol_version: h.get('mcp-protocol-version') ?? undefined, dpop: h.has('dpop') || undefined, body: b?.jsonrpc ? { rpc: b.method } : b };
  fs.appendFileSync(trace, JSON.stringify(line) + '\n');
}

globalThis.fetch = async (input, init = {}) => {
  const url = typeof input === 'string' || input instanceof URL ? String(input) : input.url;
  const method = init.method ?? (typeof input === 'object' && 'method' in input ? input.method : 'GET');
  record(method, url, init.headers ?? (typeof input === 'object' && 'headers' in input ? input.headers : undefined), init.body);
  return realFetch(input, init);
};

// Follow the authorization URL as the signed-in user; answer the consent page.
export async function headlessAuthorize(authorizationUrl) {
  if (!cookie) throw new Error('SESSION_COOKIE is required');
  let r = await realFetch(authorizationUrl, { redirect: 'manual', headers: { Cookie: cookie, Accept: 'text/html' } });
  if (r.status === 200) {
    const html = await r.text();
    // Attribute values are HTML-escaped (a browser decodes them): decode the entities.
    const decode = (v) => v?.replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
      .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
      .replaceAll('&quot;', '"').replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
    const field = (name) => decode(new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1]);
    const action = decode(/<form method="post" action="([^"]+)"/.exec(html)?.[1]);
    if (!action || !field('flow') || !field('csrf')) throw new Error(`authorize returned a page that is not the consent form: ${html.slice(0, 400)}`);
    const target = new URL(action, authorizationUrl);
    const body = new URLSearchParams({ flow: field('flow'), csrf: field('csrf'), decision: 'approve', remember: 'on' });
    r = await realFetch(target, { method: 'POST', redirect: 'manual', body,
      headers: { Cookie: cookie, Origin: target.origin, 'content-type': 'application/x-www-form-urlencoded', Accept: 'text/html' } });
  }
  if (r.status !== 302 && r.status !== 303) throw new Error(`authorize returned ${r.status}: ${await r.text()}`);
  const location = r.headers.get('location');
  if (new URL(location).pathname.endsWith('/oauth2/sign-in')) throw new Error('the session cookie was not accepted (sent to the sign-in page)');
  return new URL(location);
}

// The requests recorded in $TRACE so far.
export function readTrace() {
  if (!trace || !fs.existsSync(trace)) return [];
  return fs.readFileSync(trace, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

// One line per recorded request, in order.
export function printTrace() {
  const lines = readTrace();
  if (!lines.length) return;
  console.log(`--- ${lines.length} requests recorded in ${trace}`);
  for (const l of lines) {
    const path = l.url.replace(/^https?:\/\/[^/]+/, '').replace(/\?.*/, '');
    const what = l.body?.rpc ?? l.body?.grant_type ?? '';
    const auth = l.authorization ? ` [${l.authorization}${l.dpop ? ', DPoP proof' : ''}]` : l.dpop ? ' [DPoP proof]' : '';
    console.log(`${String(l.seq).padStart(3)} ${l.method.padEnd(4)} ${path}${auth}${what ? ' ' + what : ''}`);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
