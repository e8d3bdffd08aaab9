// The gRPC benchmark's backend: a plain grpc-js server (no Weft code) with the echo service; tells its parent its port.
import * as grpc from '@grpc/grpc-js';
import { addEchoService } from './lib.js';

const server = new grpc.Server();
addEchoService(server, 'echo-bench');
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.send?.({ port });
});
process.on('disconnect', () => server.tryShutdown(() => process.exit(0)));
