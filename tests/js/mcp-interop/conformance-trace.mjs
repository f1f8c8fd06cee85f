// Preloaded (`node --import`) into the conformance suite's Node by conformance-as.mjs: the
// suite sends its requests with undici's request() and fetch(), both of which publish on
// the `undici:request:create` diagnostics channel; each request is appended to $TRACE in
// harness-lib.mjs's format (seq, method, url with the port as PORT, the Authorization
// scheme only, body with secrets cut to their first characters).
import diagnostics from 'node:diagnostics_channel';
import fs from 'node:fs';

const trace = process.env.TRACE;
const SECRET = /^(code|code_verifier|refresh_token|access_token|client_secret|token|request_uri|client_assertion|registration_access_token|state|code_challenge|password)$/;
const cut = (v) => (typeof v === 'string' && v.length > 12 ? `${v.slice(0, 8)}…` : v);
let seq = 0;

// undici 6/7 keep headers as [name, value, name, value, …]; older ones as one string.
function header(headers, name) {
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) if (String(headers[i]).toLowerCase() === name) return String(headers[i + 1]);
  } else if (typeof headers === 'string') {
    return new RegExp(`^${name}: *(.*)$`, 'im').exec(headers)?.[1]?.trim();
  }
  return undefined;
}

function body(raw) {
  const text = typeof raw === 'string' ? raw : raw instanceof Uint8Array ? Buffer.from(raw).toString() : undefined;
  if (!text) return undefined;
  let b;
  try { b = JSON.parse(text); } catch { b = Object.fromEntries(new URLSearchParams(text)); }
  if (b?.jsonrpc) return { rpc: b.method };
  if (b && typeof b === 'object') for (const k of Object.keys(b)) if (SECRET.test(k)) b[k] = cut(b[k]);
  return b;
}

if (trace) {
  diagnostics.channel('undici:request:create').subscribe(({ request }) => {
    const url = new URL(request.path, request.origin);
    for (const [k, v] of [...url.searchParams]) if (SECRET.test(k)) url.searchParams.set(k, cut(v));
    const auth = header(request.headers, 'authorization');
    const line = { seq: ++seq, method: request.method, url: url.href.replace(/:\d+\//, ':PORT/'), authorization: auth ? auth.split(' ')[0] : undefined,
      mcp_protocol_version: header(request.headers, 'mcp-protocol-version'), dpop: header(request.headers, 'dpop') ? true : undefined, body: body(request.body) };
    fs.appendFileSync(trace, JSON.stringify(line) + '\n');
  });
}
