// Serves a Client ID Metadata Document over https (a test CA's certificate for
// 127.0.0.1) for the SDK v2 CIMD run: the document's client_id is its own URL.
//   PORT=… KEY=leaf.key CERT=leaf.pem node cimd-server.mjs   (prints the URL)
import https from 'node:https';
import fs from 'node:fs';

const port = Number(process.env.PORT);
const url = `https://127.0.0.1:${port}/mcp-harness/client-metadata.json`;
const doc = {
  client_id: url, client_name: 'mcp-harness (sdk v2, CIMD)', redirect_uris: ['http://127.0.0.1:9400/callback'],
  grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none',
};
https.createServer({ key: fs.readFileSync(process.env.KEY), cert: fs.readFileSync(process.env.CERT) }, (req, res) => {
  if (req.url === new URL(url).pathname) {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
    res.end(JSON.stringify(doc));
  } else {
    res.writeHead(404);
    res.end();
  }
}).listen(port, '127.0.0.1', () => console.log(url));
