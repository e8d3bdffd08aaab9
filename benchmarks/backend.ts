// The benchmark's loopback backend: a keep-alive node:http server answering a small body; tells its parent its port.
import http from 'node:http';

const server = http.createServer((_req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end('ok');
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') process.send?.({ port: address.port });
});
process.on('disconnect', () => process.exit(0));
