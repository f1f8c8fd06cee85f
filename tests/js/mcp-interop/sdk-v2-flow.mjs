// The official MCP TypeScript SDK, v2 line (@modelcontextprotocol/client 2.4.0), as an
// MCP host uses it against Kavach and the example MCP server: the scenario is
// mcp-host.mjs (discovery, registration, authorization code with PKCE and resource,
// tools/call, refresh after expiry, step-up to mcp:admin). The v2 SDK checks the RFC 9207
// iss of the authorization response itself.
//   MCP_URL=… SESSION_COOKIE=… TOKEN_TTL=4 TRACE=traces/sdk-v2.jsonl node sdk-v2-flow.mjs
// With CIMD_URL=https://…/client-metadata.json the SDK uses that Client ID Metadata
// Document's URL as its client_id and does not register (trace: traces/sdk-v2-cimd.jsonl).
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client';
import { runSdkFlow } from './mcp-host.mjs';

await runSdkFlow({
  label: process.env.CIMD_URL ? 'sdk v2 cimd' : 'sdk v2',
  sdk: { Client, StreamableHTTPClientTransport, UnauthorizedError },
  // v2 takes the whole authorization response (code, state, iss).
  finishAuth: (transport, callback) => transport.finishAuth(callback.searchParams),
  stepUpRequired: true,
});
