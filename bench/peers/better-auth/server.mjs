// better-auth benchmark peer for bench/run.sh. Our glue only; better-auth comes from npm
// at the versions pinned in package-lock.json.
//
//   node server.mjs PORT [DATABASE_URL]
//     DATABASE_URL: none or sqlite://PATH -> SQLite file (default: a new temp dir);
//                   postgres://... or postgresql://... -> PostgreSQL (pg pool, 16 connections)
//   env PEER_OAUTH=0 leaves out the OAuth 2.1 provider (and with it the jwt plugin).
//
// Prints "ready" on stdout once listening on 127.0.0.1:PORT; other diagnostics go to stderr.
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { betterAuth } from "better-auth";
import { toNodeHandler } from "better-auth/node";
import { getMigrations } from "better-auth/db/migration";
import { bearer, organization, jwt } from "better-auth/plugins";

const HOST = "127.0.0.1";
const PORT = Number(process.argv[2] || process.env.PORT);
if (!Number.isInteger(PORT) || PORT <= 0 || PORT > 65535) {
  console.error("usage: node server.mjs PORT [DATABASE_URL]");
  process.exit(2);
}
const DATABASE_URL = process.argv[3] || "";
const BASE_URL = `http://${HOST}:${PORT}`;
// Fixed, benchmark-only secret (>= 32 chars). Never use outside the bench.
const SECRET = "kavach-bench-peer-better-auth-secret-0123456789abcdef";
const OAUTH = process.env.PEER_OAUTH !== "0";

// The OAuth client the bench uses for client_credentials (the same as the oidc-provider peer).
export const BENCH_CLIENT_ID = "bench-client";
export const BENCH_CLIENT_SECRET = "bench-secret-0123456789";
export const BENCH_RESOURCE = "https://mcp.example.com/mcp";
export const BENCH_SCOPE = "mcp:tools";

async function openDatabase(url) {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const { default: pg } = await import("pg");
    const pool = new pg.Pool({ connectionString: url, max: 16 }); // Kavach's PostgreSQL pool is 16 too
    return { db: pool, kind: "postgres", close: () => pool.end() };
  }
  let file;
  let tempDir = null;
  if (url.startsWith("sqlite://")) file = url.slice("sqlite://".length);
  else if (url.startsWith("sqlite:")) file = url.slice("sqlite:".length);
  else if (url === "") {
    tempDir = fs.mkdtempSync(path.join(os.tmpdir(), "better-auth-peer-"));
    file = path.join(tempDir, "better-auth.sqlite");
  }
  else throw new Error(`unsupported DATABASE_URL: ${url}`);
  file = path.resolve(file);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const { default: Database } = await import("better-sqlite3");
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 10000");
  const close = () => {
    db.close();
    if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true }); // our default temp file
  };
  return { db, kind: `sqlite:${file}`, close };
}

const database = await openDatabase(DATABASE_URL);

// One-shot ids for the bench client: the provider generates client ids and secrets itself,
// so we hand it fixed ones while we register our client at start (see below).
let fixedClient = null;
// The provider registers clients only for a signed-in user: this one is created at start.
const OWNER_EMAIL = "bench-oauth-owner@peer.invalid";

const plugins = [bearer(), organization()];
if (OAUTH) {
  const { oauthProvider } = await import("@better-auth/oauth-provider");
  // The provider signs JWT access tokens with the jwt plugin's key (EdDSA / Ed25519, its
  // default). Its set-auth-jwt header on get-session is off, so get-session costs no signature.
  plugins.push(jwt({ disableSettingJwtHeader: true }));
  plugins.push(
    oauthProvider({
      loginPage: "/login",
      consentPage: "/consent",
      scopes: ["openid", "profile", "email", "offline_access", BENCH_SCOPE],
      resources: [{ identifier: BENCH_RESOURCE, allowedScopes: [BENCH_SCOPE] }],
      resourceSeedMode: "overwrite",
      enforcePerClientResources: false,
      // Only our start-up owner may register clients (and set client_credentials scopes).
      clientPrivileges: ({ user }) => user?.email === OWNER_EMAIL,
      generateClientId: () => fixedClient?.id ?? crypto.randomUUID().replaceAll("-", ""),
      generateClientSecret: () => fixedClient?.secret ?? crypto.randomUUID().replaceAll("-", ""),
    }),
  );
}

const options = {
  appName: "kavach-bench-peer",
  baseURL: BASE_URL,
  basePath: "/api/auth",
  secret: SECRET,
  database: database.db,
  emailAndPassword: { enabled: true, requireEmailVerification: false },
  plugins,
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  logger: { level: "error" },
};

// better-auth's own migration planner: creates or alters the tables it needs.
const migrations = await getMigrations(options);
await migrations.runMigrations();

const auth = betterAuth(options);

if (OAUTH) {
  const ctx = await auth.$context;
  const existing = await ctx.adapter.findOne({
    model: "oauthClient",
    where: [{ field: "clientId", value: BENCH_CLIENT_ID }],
  });
  if (!existing) {
    const ownerPassword = "bench-oauth-owner-password-0123456789";
    const signUp = await auth.api.signUpEmail({
      body: { email: OWNER_EMAIL, password: ownerPassword, name: "bench oauth owner" },
      returnHeaders: true,
    }).catch(async () => auth.api.signInEmail({ // owner left by an earlier, interrupted start
      body: { email: OWNER_EMAIL, password: ownerPassword },
      returnHeaders: true,
    }));
    const cookie = signUp.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    fixedClient = { id: BENCH_CLIENT_ID, secret: BENCH_CLIENT_SECRET };
    try {
      await auth.api.adminCreateOAuthClient({
        headers: new Headers({ cookie }),
        body: {
          client_name: "bench",
          token_endpoint_auth_method: "client_secret_basic",
          grant_types: ["client_credentials"],
          response_types: [],
          client_credentials_scopes: [BENCH_SCOPE],
          scope: BENCH_SCOPE,
        },
      });
    } finally {
      fixedClient = null;
    }
  }
}

const handler = toNodeHandler(auth);
const server = http.createServer((req, res) => {
  if (req.url.startsWith("/api/auth")) return handler(req, res);
  res.writeHead(404, { "content-type": "text/plain" });
  res.end("not found");
});
server.keepAliveTimeout = 65_000;
server.listen(PORT, HOST, () => {
  console.error(`better-auth peer on ${BASE_URL}/api/auth (db=${database.kind}, oauth=${OAUTH}, pid=${process.pid})`);
  console.log("ready");
});

function shutdown() {
  server.close(() => {
    Promise.resolve().then(() => database.close()).finally(() => process.exit(0));
  });
  server.closeAllConnections(); // idle keep-alive connections would hold close() open
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
