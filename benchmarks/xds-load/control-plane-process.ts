// The control plane of the scale benchmarks, alone in its own process so its memory and CPU are measured apart from
// the simulated clients: started from dist/ (what users run), it answers 'stats' (after a GC when --expose-gc is on)
// and 'close' over the IPC channel. Argument: the config directory.
import { startControlPlane } from '../../dist/control-plane/src/index.js';
import type { ControlPlaneProcessMessage, ControlPlaneProcessRequest } from './control-plane-runner.js';

const configDir = process.argv[2];
if (configDir === undefined) throw new Error('usage: control-plane-process.ts <configDir>');
const cp = await startControlPlane({ configDir, xdsPort: 0, adminPort: 0, stateDir: false });
const send = (m: ControlPlaneProcessMessage) => process.send?.(m);
process.on('message', (m: ControlPlaneProcessRequest) => {
  if (m.type === 'stats') {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const mem = process.memoryUsage();
    const cpu = process.cpuUsage(); // before bytesSent(), whose per-stream list is not push-path work
    // Totals only: bytesSent() also lists every stream, which a 10,000-stream run need not pay for here.
    const sent = cp.ads.bytesSent();
    send({ type: 'stats', rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, cpuUs: cpu.user + cpu.system, sotwBytes: sent.sotw.bytes, deltaBytes: sent.delta.bytes, streams: sent.streams.length });
  } else if (m.type === 'close') {
    // A clean exit, so --cpu-prof writes its profile.
    void cp.close().then(() => process.exit(0));
  }
});
send({ type: 'started', xdsAddress: cp.xdsAddress, adminUrl: cp.adminUrl, adminToken: cp.adminToken });
