// A CSR storm against a rate-limited CA: 200 workloads enrol at once against `--csr-rate 20`. The CA refuses the excess
// with RESOURCE_EXHAUSTED and a retry-after; the SDK backs off with jitter; every workload gets its certificate, none
// fails for good, and the CA never signs faster than its token bucket allows.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Logger } from '../../src/core/logger.js';
import { IdentityClient } from '../../src/identity/enrolment-client.js';
import { WorkloadIdentity } from '../../src/identity/workload-identity.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startControlPlane, type ControlPlane } from '../../control-plane/src/index.js';

const WORKLOADS = 200;
const RATE_PER_SECOND = 20;

describe('CSR storm', { timeout: 240_000 }, () => {
  let cp: ControlPlane;
  let dir: string;
  const issuedAtMs: number[] = [];
  let exhausted = 0;
  const logger: Logger = {
    debug() {},
    info(message) {
      if (message === 'identity: certificate issued') issuedAtMs.push(performance.now());
    },
    warn(message, fields) {
      if (message === 'identity: CSR refused' && fields?.['code'] === 'RESOURCE_EXHAUSTED') exhausted++;
    },
    error() {},
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-storm-'));
    // No state dir: token uses are counted in memory, so a certificate is logged in the same turn its rate token was
    // taken (a ledger write to disk in between would skew the times this test checks the rate with).
    cp = await startControlPlane({ configDir: dir, xdsPort: 0, adminPort: 0, stateDir: false, logger, security: { csrRatePerSecond: RATE_PER_SECOND } });
  });
  after(async () => {
    await cp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(`enrols ${WORKLOADS} workloads at once against --csr-rate ${RATE_PER_SECOND}: all certified, none failed, the rate kept`, async () => {
    const { token } = await cp.tokens.create({ service: 'payments', uses: WORKLOADS });
    const client = new IdentityClient({ server: cp.xdsAddress });
    const identities = Array.from({ length: WORKLOADS }, () => new WorkloadIdentity({
      service: 'payments',
      token: { kind: 'value', token, from: 'test' },
      enrol: (csr, credential) => client.sign(csr, credential),
    }));
    try {
      const outcomes = await Promise.allSettled(identities.map((i) => i.whenReady()));
      const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      assert.deepEqual(failed.map((f) => String(f.reason)), [], 'no workload failed for good');
      assert.equal(identities.filter((i) => i.current()?.spiffeId === 'spiffe://weft.local/ns/default/sa/payments').length, WORKLOADS);
      // At least one each; more only when an answer was lost (a Sign past its deadline on a loaded machine is asked
      // again with the same key, and signed again for the same token use).
      assert.ok(issuedAtMs.length >= WORKLOADS, `${issuedAtMs.length} certificates signed for ${WORKLOADS} workloads`);
      assert.ok(exhausted > 0, 'the storm did hit the rate limit');
      // Token bucket (burst = one second's worth): any run of n signatures spans at least (n - burst) / rate seconds.
      // The log line comes just after the admission, so one signature of slack.
      const sorted = [...issuedAtMs].sort((a, b) => a - b);
      for (let i = 0; i < sorted.length; i++) {
        for (let j = i + RATE_PER_SECOND + 1; j < sorted.length; j++) {
          const n = j - i + 1;
          const allowed = RATE_PER_SECOND + 1 + ((sorted[j]! - sorted[i]!) / 1000) * RATE_PER_SECOND;
          assert.ok(n <= allowed, `${n} certificates signed in ${Math.round(sorted[j]! - sorted[i]!)} ms at --csr-rate ${RATE_PER_SECOND}`);
        }
      }
    } finally {
      for (const i of identities) i.close();
      client.close();
    }
  });
});
