// oidc-provider benchmark peer for bench/run.sh. Our glue only; oidc-provider (panva) comes
// from npm at the version pinned in package-lock.json.
//
//   node server.mjs PORT [DATABASE_URL]      (DATABASE_URL is ignored: in-memory state)
//
// One static confidential client, `bench-client`, may use the client_credentials grant with
// client_secret_basic at POST /token. With the resource indicator
// https://mcp.example.com/mcp (RFC 8707) it gets an RFC 9068 JWT access token for scope
// mcp:tools, signed with EdDSA (Ed25519). Prints "ready" on stdout once listening on
// 127.0.0.1:PORT; the provider's own notices go to stderr.
import http from "node:http";
import crypto from "node:crypto";
import Provider, { errors } from "oidc-provider";

const HOST = "127.0.0.1";
const PORT = Number(process.argv[2] || process.env.PORT);
if (!Number.isInteger(PORT) || PORT <= 0 || PORT > 65535) {
  console.error("usage: node server.mjs PORT [DATABASE_URL]");
  process.exit(2);
}
const ISSUER = `http://${HOST}:${PORT}`;

const CLIENT_ID = "bench-client";
const CLIENT_SECRET = "bench-secret-0123456789";
const RESOURCE = "https://mcp.example.com/mcp";
const SCOPE = "mcp:tools";

// The provider's own notices use console.info (stdout); keep stdout for "ready" alone.
console.info = (...args) => console.error(...args);

// A new Ed25519 signing key on every start (nothing is kept between runs).
const signingKey = {
  ...crypto.generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }),
  kid: crypto.randomUUID(),
  alg: "EdDSA",
  use: "sig",
};

const provider = new Provider(ISSUER, {
  // adapter: none, i.e. oidc-provider's built-in in-memory adapter. JWT access tokens are
  // not written to it (only opaque ones would be), so client_credentials touches no storage.
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_types: ["client_credentials"],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: "client_secret_basic",
      scope: SCOPE,
    },
  ],
  jwks: { keys: [signingKey] },
  // The only key is Ed25519, so the clients' default JWS algorithm must be EdDSA too.
  clientDefaults: { id_token_signed_response_alg: "EdDSA" },
  scopes: [SCOPE],
  cookies: { keys: ["kavach-bench-peer-oidc-provider-cookie-key-0123456789"] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      // A request without `resource` is for the MCP server too (so it also gets a JWT,
      // never an opaque token kept in the adapter).
      defaultResource: async (_ctx, _client, oneOf) => oneOf ?? RESOURCE,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (_ctx, resourceIndicator, _client) => {
        if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget();
        return {
          scope: SCOPE,
          audience: RESOURCE,
          accessTokenTTL: 3600,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: "EdDSA" } },
        };
      },
    },
  },
  ttl: { ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600 },
  // Tokens for other resources are not issued at all (getResourceServerInfo throws).
  extraTokenClaims: async () => undefined,
});
provider.on("server_error", (_ctx, err) => console.error("server_error:", err));

const server = http.createServer(provider.callback());
server.keepAliveTimeout = 65_000;
server.listen(PORT, HOST, () => {
  console.error(`oidc-provider peer on ${ISSUER} (token endpoint ${ISSUER}/token, pid=${process.pid})`);
  console.log("ready");
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections(); // idle keep-alive connections would hold close() open
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
