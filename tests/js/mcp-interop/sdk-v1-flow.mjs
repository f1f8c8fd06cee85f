// The official MCP TypeScript SDK, v1 line (@modelcontextprotocol/sdk 1.32.2, the most
// deployed), as an MCP host uses it against Kavach and the example MCP server: the
// scenario is mcp-host.mjs (discovery, registration, authorization code with PKCE and
// resource, tools/call, refresh after expiry, step-up).
//   MCP_URL=… SESSION_COOKIE=… TOKEN_TTL=4 TRACE=traces/sdk-v1.jsonl node sdk-v1-flow.mjs
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { runSdkFlow } from './mcp-host.mjs';

await runSdkFlow({
  label: 'sdk v1',
  sdk: { Client, StreamableHTTPClientTransport, UnauthorizedError },
  // v1 takes the code alone (it does not look at iss; mcp-host.mjs checks it).
  finishAuth: (transport, callback) => transport.finishAuth(callback.searchParams.get('code')),
  // On 403 insufficient_scope the v1 line refreshes instead of asking for the scope.
  stepUpRequired: false,
});
