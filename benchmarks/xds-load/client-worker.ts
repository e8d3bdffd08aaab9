// A worker process of the load harness: runs many SimClients over a bounded number of grpc-js channels and reports
// to its parent (over the IPC channel) when they are ready and when each ACKs a marked version, in batches.
import * as grpc from '@grpc/grpc-js';
import { SimClient, type SimClientSpec } from './sim-client.js';
import type { ParentMessage, WorkerMessage } from './harness.js';

/** How often batched reports go to the parent (ms): often enough for convergence figures in milliseconds. */
const FLUSH_MS = 10;
/** Streams opened per turn of the event loop, so opening thousands does not starve the ones already open. */
const OPEN_BATCH = 200;

const send = (m: WorkerMessage) => process.send?.(m);
let clients: SimClient[] = [];
let channels: grpc.Client[] = [];
let readyCount = 0;
let reportedReady = 0;
let markers: [number, number, number][] = [];
const timer = setInterval(() => {
  if (readyCount !== reportedReady) {
    reportedReady = readyCount;
    send({ type: 'ready', count: readyCount });
  }
  if (markers.length > 0) {
    send({ type: 'markers', items: markers });
    markers = [];
  }
}, FLUSH_MS);

async function start(address: string, channelCount: number, specs: readonly SimClientSpec[]): Promise<void> {
  // A local subchannel pool per channel: grpc-js would otherwise share one HTTP/2 connection between them all.
  channels = Array.from({ length: channelCount }, () => new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
  const events = {
    onReady: () => void readyCount++,
    onMarker: (c: SimClient, marker: number, atMs: number) => void markers.push([c.spec.id, marker, atMs]),
    onEnd: (c: SimClient, status: grpc.StatusObject) => {
      if (status.code !== grpc.status.CANCELLED) send({ type: 'ended', id: c.spec.id, code: status.code, details: status.details });
    },
  };
  for (let i = 0; i < specs.length; i++) {
    clients.push(new SimClient(channels[i % channelCount]!, specs[i]!, events));
    if ((i + 1) % OPEN_BATCH === 0) await new Promise((r) => setImmediate(r));
  }
}

process.on('message', (m: ParentMessage) => {
  if (m.type === 'start') void start(m.address, m.channels, m.specs);
  else if (m.type === 'counters') {
    let bytes = 0;
    let responses = 0;
    let nacks = 0;
    for (const c of clients) {
      bytes += c.bytesReceived;
      responses += c.responses;
      nacks += c.nacks;
    }
    send({ type: 'counters', bytes, responses, nacks, cpuUs: process.cpuUsage().user + process.cpuUsage().system });
  } else if (m.type === 'close') {
    clearInterval(timer);
    for (const c of clients) c.close();
    for (const ch of channels) ch.close();
    clients = [];
    process.disconnect();
  }
});
process.on('disconnect', () => {
  clearInterval(timer);
  for (const c of clients) c.close();
  for (const ch of channels) ch.close();
});
