// The CLI's identity side against a real control plane on loopback: the operator token from each source, weft token
// create, weft cert issue, weft ca, and bad security flags. Mostly the CLI's main() in this process (real HTTP, real
// files); the real binary where the process matters (stdout capture, the working directory's token file).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tlsHandshake } from '../control-plane/src/ca/ca-test-kit.js';
import { main } from './cli.js';
import { ROOT, suiteControlPlane, weftBinary, type CliRun } from './cli-test-kit.js';

/** Runs the CLI's main() in this process with `env` as its environment. */
async function cli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    out: (t) => void (stdout += t.endsWith('\n') ? t : `${t}\n`),
    err: (t) => void (stderr += t.endsWith('\n') ? t : `${t}\n`),
    env,
    readStdin: async () => '',
  });
  return { code, stdout, stderr };
}

/** Spawns the real `weft` binary in `cwd`, with no operator token but what `env` gives. */
const binary = (args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<CliRun> =>
  weftBinary(args, { WEFT_ADMIN_TOKEN: '', WEFT_ADMIN_TOKEN_FILE: '', ...env }, { cwd });

describe('weft CLI identity commands', { timeout: 90_000 }, () => {
  const suite = suiteControlPlane('weft-cli-id-');

  it('reads the operator token from --token, WEFT_ADMIN_TOKEN or WEFT_ADMIN_TOKEN_FILE, and says how when it is wrong', async () => {
    const wrong = await cli(['get', 'routes', '--token', 'nope-nope-nope-nope'], { WEFT_ADMIN: suite.cp.adminUrl });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /refused the request: the operator token is wrong\.\nTo fix it, give the operator token with --token <token>, WEFT_ADMIN_TOKEN=<token> or WEFT_ADMIN_TOKEN_FILE=<file>/);
    const file = path.join(suite.dir, 'token-file');
    await writeFile(file, `${suite.cp.adminToken}\n`);
    assert.equal((await cli(['get', 'routes'], { WEFT_ADMIN: suite.cp.adminUrl, WEFT_ADMIN_TOKEN_FILE: file })).code, 0);
    assert.equal((await cli(['get', 'routes', '--token', suite.cp.adminToken], { WEFT_ADMIN: suite.cp.adminUrl })).code, 0);
    const badFile = await cli(['get', 'routes'], { WEFT_ADMIN: suite.cp.adminUrl, WEFT_ADMIN_TOKEN_FILE: path.join(suite.dir, 'nope') });
    assert.equal(badFile.code, 2);
    assert.match(badFile.stderr, /WEFT_ADMIN_TOKEN_FILE=.*nope: cannot be read \(ENOENT\)/);
  });

  it('finds ./mesh/.weft/admin-token where weft control-plane keeps it, and says so when there is no token at all', async () => {
    const here = path.join(suite.dir, 'project');
    await mkdir(path.join(here, 'mesh', '.weft'), { recursive: true });
    const none = await binary(['status'], { WEFT_ADMIN: suite.cp.adminUrl }, here);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /refused the request: no operator token was given/);
    await writeFile(path.join(here, 'mesh', '.weft', 'admin-token'), suite.cp.adminToken);
    const found = await binary(['status'], { WEFT_ADMIN: suite.cp.adminUrl }, here);
    assert.equal(found.code, 0, found.stderr);
  });

  it('creates bootstrap tokens: the token alone on stdout (capturable), what it grants on stderr', async () => {
    const r = await binary(['token', 'create', '--service', 'payments', '--ttl', '10m', '--uses', '2'], suite.env, ROOT);
    assert.equal(r.code, 0, r.stderr);
    const token = r.stdout.trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.match(r.stderr, /bootstrap token for spiffe:\/\/weft\.local\/ns\/default\/sa\/payments: 2 uses, expires \d{4}-/);
    const checked = await suite.cp.tokens.check(token);
    assert.ok(checked.ok && checked.grant.uses === 2 && checked.grant.expiresAtMs - Date.now() <= 600_000);
    const json = await cli(['token', 'create', '--service', 'ledger', '--namespace', 'books', '-o', 'json'], suite.env);
    assert.equal((JSON.parse(json.stdout) as { spiffeId: string }).spiffeId, 'spiffe://weft.local/ns/books/sa/ledger');
    const bad = await cli(['token', 'create', '--service', 'payments', '--ttl', 'forever'], suite.env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /ttl: 'forever' is not a duration like 1h, 30m or 7d/);
    assert.equal((await cli(['token', 'create'], suite.env)).code, 2);
    assert.equal((await cli(['token', 'create', '--service', 'x', '--uses', '0'], suite.env)).code, 2);
  });

  it('issues a key, certificate and trust bundle as files that complete a TLS handshake', async () => {
    const out = path.join(suite.dir, 'certs');
    const r = await cli(['cert', 'issue', '--service', 'payments', '--out', out], suite.env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^spiffe:\/\/weft\.local\/ns\/default\/sa\/payments: wrote .*key\.pem, cert\.pem and ca\.pem; expires/);
    assert.equal((await stat(path.join(out, 'key.pem'))).mode & 0o777, 0o600);
    const [key, cert, ca] = await Promise.all(['key.pem', 'cert.pem', 'ca.pem'].map((f) => readFile(path.join(out, f), 'utf8')));
    assert.equal(new X509Certificate(cert!).subjectAltName, 'URI:spiffe://weft.local/ns/default/sa/payments');
    assert.ok(await tlsHandshake(cert!, key!, ca!));
    assert.equal((await cli(['cert', 'issue', '--service', 'payments'], suite.env)).code, 2, '--out is required');
  });

  it('shows the CA and starts a root rotation', async () => {
    const status = await cli(['ca', 'status'], suite.env);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^Trust domain weft\.local; certificates valid 24h; signing with a generated root/m);
    assert.match(status.stdout, /^[0-9a-f]{16}\s+active\s+O=weft, CN=weft root CA/m);
    const rotate = await cli(['ca', 'rotate', '--activate-after', '10m'], suite.env);
    assert.equal(rotate.code, 0, rotate.stderr);
    assert.match(rotate.stdout, /^[0-9a-f]{16}\s+next\s+.*signs in 10m$/m);
    const again = await cli(['ca', 'rotate'], suite.env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /a rotation is already under way/);
    const json = JSON.parse((await cli(['ca', 'status', '-o', 'json'], suite.env)).stdout) as { roots: { phase: string }[] };
    assert.deepEqual(json.roots.map((r) => r.phase), ['active', 'next']);
  });

  it('refuses bad security flags of weft control-plane before starting, naming the flag (exit 2) or the problem (exit 1)', async () => {
    const configDir = path.join(suite.dir, 'flags');
    const run = (...flags: string[]) => cli(['control-plane', '--config-dir', configDir, '--xds-port', '0', '--admin-port', '0', ...flags], {});
    const cases: [string[], number, RegExp][] = [
      [['--xds-auth', 'maybe'], 2, /--xds-auth must be loopback-plaintext or required, not 'maybe'/],
      [['--cert-ttl', 'a while'], 2, /--cert-ttl must be a duration like 24h, 90m or 7d, not 'a while'/],
      [['--ca-cert', 'x.pem'], 2, /--ca-cert and --ca-key go together/],
      [['--csr-rate', 'lots'], 2, /--csr-rate must be a number ≥ 0 \(0 = no limit\), not 'lots'/],
      [['--cert-ttl', '100d'], 1, /--cert-ttl must be between 1s and 90 days/],
      [['--ca-cert', path.join(suite.dir, 'none.pem'), '--ca-key', path.join(suite.dir, 'none-key.pem')], 1, /--ca-cert .*none\.pem: cannot be read \(ENOENT\)/],
    ];
    for (const [flags, code, message] of cases) {
      const r = await run(...flags);
      assert.equal(r.code, code, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});
