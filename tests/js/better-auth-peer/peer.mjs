// A better-auth 1.7.25 server for Kavach's migration tests (our own glue; better-auth
// comes from npm). It creates its schema on start and prints "listening <url>".
//
// Env: PORT, DATABASE_URL (postgres://...) or SQLITE_PATH, BETTER_AUTH_SECRET,
//      SNAKE_CASE=1 to map every column to snake_case (the layout the migration
//      guide's INSERT ... SELECT statements read, e.g. drizzle's casing: "snake_case").
import http from "node:http";
import { betterAuth } from "better-auth";
import { toNodeHandler } from "better-auth/node";
import { getMigrations } from "better-auth/db/migration";
import { bearer, organization, admin } from "better-auth/plugins";

const PORT = Number(process.env.PORT || 3000);
const BASE_URL = `http://127.0.0.1:${PORT}`;

async function database() {
  if (process.env.DATABASE_URL) {
    const { default: pg } = await import("pg");
    return new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
  }
  const { default: Database } = await import("better-sqlite3");
  const db = new Database(process.env.SQLITE_PATH);
  db.pragma("journal_mode = WAL");
  return db;
}

const snake = process.env.SNAKE_CASE === "1";
const map = (fields) => (snake ? { fields: Object.fromEntries(fields.map((f) => [f, f.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase())])) } : {});

const options = {
  baseURL: BASE_URL,
  secret: process.env.BETTER_AUTH_SECRET,
  database: await database(),
  emailAndPassword: { enabled: true },
  plugins: [bearer(), organization(), admin()],
  telemetry: { enabled: false },
  logger: { level: "error" },
  rateLimit: { enabled: false },
  user: map(["emailVerified", "createdAt", "updatedAt", "banReason", "banExpires"]),
  session: map(["expiresAt", "ipAddress", "userAgent", "userId", "createdAt", "updatedAt", "activeOrganizationId", "impersonatedBy"]),
  account: snake
    ? { fields: { accountId: "account_id", providerId: "provider_id", userId: "user_id", accessToken: "access_token", refreshToken: "refresh_token",
                  idToken: "id_token", accessTokenExpiresAt: "expires_at", refreshTokenExpiresAt: "refresh_token_expires_at",
                  createdAt: "created_at", updatedAt: "updated_at" } }
    : {},
  verification: map(["expiresAt", "createdAt", "updatedAt"]),
};

const migrations = await getMigrations(options);
await migrations.runMigrations();
const auth = betterAuth(options);
const handler = toNodeHandler(auth);
const server = http.createServer((req, res) => (req.url.startsWith("/api/auth") ? handler(req, res) : (res.writeHead(404), res.end())));
server.listen(PORT, "127.0.0.1", () => console.log(`listening ${BASE_URL}/api/auth`));
for (const s of ["SIGINT", "SIGTERM"]) process.on(s, () => process.exit(0));
