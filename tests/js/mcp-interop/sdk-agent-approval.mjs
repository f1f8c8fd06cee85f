// An AI agent with its own key pair, as the official MCP TypeScript SDK (v1 line,
// @modelcontextprotocol/sdk 1.32.2) runs one: PrivateKeyJwtProvider gets access tokens
// with the client_credentials grant, authenticating with an RFC 7523 assertion signed by
// the agent's private key (Kavach holds only the public key), then the agent calls tools
// of the example MCP server, whose verifier asks Kavach's decision point about every call.
//   node sdk-agent-approval.mjs keygen            -> writes agent-key.json, prints the public JWK set
//   MCP_URL=… AGENT_ID=… ISSUER=… node sdk-agent-approval.mjs call-1
//       echo passes; transfer needs approval: prints `APPROVAL <id> <url>`
//   MCP_URL=… AGENT_ID=… ISSUER=… node sdk-agent-approval.mjs call-2
//       the identical transfer passes once approved, and only once
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { PrivateKeyJwtProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { generateKeyPair, exportJWK } from 'jose';
import { readFileSync, writeFileSync } from 'node:fs';

const phase = process.argv[2];
const fail = (msg) => {
  console.log(`FAIL ${msg}`);
  process.exit(1);
};

if (phase === 'keygen') {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const pub = { ...(await exportJWK(publicKey)), alg: 'ES256', use: 'sig', kid: 'agent-1' };
  writeFileSync('agent-key.json', JSON.stringify({ ...(await exportJWK(privateKey)), alg: 'ES256', kid: 'agent-1' }));
  console.log(JSON.stringify({ keys: [pub] }));
  process.exit(0);
}

const { MCP_URL, AGENT_ID, ISSUER } = process.env;
if (!MCP_URL || !AGENT_ID || !ISSUER) fail('MCP_URL, AGENT_ID and ISSUER are required');
const provider = new PrivateKeyJwtProvider({
  clientId: AGENT_ID,
  privateKey: JSON.parse(readFileSync('agent-key.json', 'utf8')),
  algorithm: 'ES256',
  clientName: 'approval-test agent',
  scope: 'mcp:tools',
  expectedIssuer: ISSUER,
});
const client = new Client({ name: 'kavach-agent-test', version: '1.0.0' });
await client.connect(new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider }));
const tokens = provider.tokens();
if (!tokens?.access_token) fail('no access token from client_credentials');
const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString());
if (claims.sub !== AGENT_ID || claims.agent?.id !== AGENT_ID) fail(`the token does not name the agent: ${JSON.stringify(claims)}`);
console.log(`token for agent ${claims.agent.id} owned by ${claims.agent.owner_user_id}`);

const transfer = () => client.callTool({ name: 'transfer', arguments: { amount: 250, to: 'acct-9' } });
const text = (r) => r.content?.map((c) => c.text).join(' ');

if (phase === 'call-1') {
  const echo = await client.callTool({ name: 'echo', arguments: { message: 'hello' } });
  if (text(echo) !== 'hello') fail(`echo: ${JSON.stringify(echo)}`);
  console.log('echo -> hello');
  try {
    const r = await client.callTool({ name: 'whoami', arguments: {} });
    fail(`whoami is not granted, yet it answered ${JSON.stringify(r)}`);
  } catch (e) {
    if (!(e instanceof McpError) || e.code !== -32001 || !/NO_MATCHING_PERMISSION/.test(e.message)) fail(`whoami: ${e}`);
    console.log(`whoami refused: ${e.message}`);
  }
  try {
    const r = await transfer();
    fail(`transfer passed without approval: ${JSON.stringify(r)}`);
  } catch (e) {
    if (!(e instanceof McpError) || e.code !== -32001) fail(`transfer: ${e}`);
    const m = /needs approval (apr_\w+): its owner approves it at (\S+),/.exec(e.message);
    if (!m) fail(`the refusal does not name the approval: ${e.message}`);
    console.log(`transfer refused: ${e.message}`);
    console.log(`APPROVAL ${m[1]} ${m[2]}`);
  }
} else if (phase === 'call-2') {
  const r = await transfer();
  if (!/transferred 250 to acct-9/.test(text(r))) fail(`transfer after approval: ${JSON.stringify(r)}`);
  console.log(`transfer -> ${text(r)}`);
  try {
    await transfer();
    fail('the approval let a second identical call through');
  } catch (e) {
    if (!(e instanceof McpError) || !/needs approval apr_/.test(e.message)) fail(`second transfer: ${e}`);
    console.log('second transfer waits for a new approval');
  }
} else {
  fail(`unknown phase ${phase}`);
}
await client.close();
console.log('agent approval flow OK');
