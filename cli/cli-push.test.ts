// Tests the CLI side of the push pipeline in process: `weft status` shows p50/p99 convergence from a running control
// plane's admin API, and `weft control-plane` refuses malformed push flags with exit code 2 before starting.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startControlPlane, type ControlPlane } from '../control-plane/src/control-plane.js';
import { CliError } from './admin-client.js';
import { runControlPlane } from './commands/control-plane.js';
import { runStatus } from './commands/status.js';
import type { CliIo } from './output.js';

function io(env: NodeJS.ProcessEnv = {}): CliIo & { readonly lines: string[] } {
  const lines: string[] = [];
  return { lines, env, out: (t) => lines.push(t), err: (t) => lines.push(t), readStdin: async () => '' };
}

describe('weft CLI: push pipeline', { timeout: 30_000 }, () => {
  let dir = '';
  let cp: ControlPlane;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-cli-push-'));
    cp = await startControlPlane({ configDir: dir, xdsPort: 0, adminPort: 0, stateDir: false });
  });
  after(async () => {
    await cp.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('status shows no convergence line before any, then p50 and p99 over the latest', async () => {
    const env = { WEFT_ADMIN: cp.adminUrl, WEFT_ADMIN_TOKEN: cp.adminToken };
    const first = io(env);
    assert.equal(await runStatus([], first), 0);
    assert.doesNotMatch(first.lines.join('\n'), /Convergence/);
    cp.pushMetrics.converged(480);
    cp.pushMetrics.converged(120);
    const second = io(env);
    assert.equal(await runStatus([], second), 0);
    assert.match(second.lines.join('\n'), /^Convergence \(change to ACK\): p50 120 ms, p99 480 ms over the latest 2 of 2\.$/m);
  });

  it('control-plane refuses a malformed --debounce, --debounce-max or --max-connection-age with exit 2', async () => {
    for (const flag of ['--debounce', '--debounce-max', '--max-connection-age', '--max-connection-age-grace']) {
      await assert.rejects(runControlPlane([flag, 'soon'], io()), (e: unknown) => {
        assert.ok(e instanceof CliError);
        assert.equal(e.exitCode, 2);
        assert.match(e.message, new RegExp(`^${flag} must be a duration like 100ms, 1s or 30m, not 'soon'$`));
        return true;
      });
    }
  });
});
