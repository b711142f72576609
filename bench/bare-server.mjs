// The limit for a Node auth check: node:http answering 200 with three identity headers and an
// explicit Content-Length (BASELINE.md). Run as its own process so it gets the same core as
// portcullis does. Prints its port on stdout once listening.
import { createServer } from 'node:http';

const HEADERS = [
  'Remote-User',
  'bench',
  'Remote-Email',
  'bench@example.com',
  'Remote-Groups',
  'users',
  'Content-Length',
  '0',
];

const server = createServer((_req, res) => {
  res.writeHead(200, HEADERS);
  res.end();
});
server.keepAliveTimeout = 75_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
