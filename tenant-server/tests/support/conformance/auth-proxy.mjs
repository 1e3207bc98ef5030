// Forwards every request to the MCP server, adding `Authorization: Bearer <token>`: the
// conformance suite sends no credentials. Keeps the client's Host and Origin so the server's
// DNS-rebinding checks are what the suite sees. Listens on 127.0.0.1 only; prints its URL.
// Usage: node auth-proxy.mjs <server-mcp-url> <token>
import http from 'node:http';

const [target, token] = process.argv.slice(2);
const upstream = new URL(target);

const server = http.createServer((req, res) => {
  const headers = { ...req.headers, authorization: `Bearer ${token}` };
  const forward = http.request(
    { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers },
    (reply) => {
      res.writeHead(reply.statusCode, reply.headers);
      reply.pipe(res);
    },
  );
  forward.on('error', (err) => {
    res.writeHead(502).end(String(err));
  });
  req.pipe(forward);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`http://127.0.0.1:${server.address().port}${upstream.pathname}\n`);
});
