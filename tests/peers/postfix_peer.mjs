// A private Postfix instance (Debian's postfix, installed by scripts/setup) for tests: it takes
// mail by SMTP on 127.0.0.1 and hands mail for --domain to an LMTP server, as a production MTA
// hands it to hermesd with a transport map.
//
//   node tests/peers/postfix_peer.mjs --port 0 --domain corp.example --lmtp 127.0.0.1:2424
//
// Prints "listening <smtp port>" once Postfix's smtpd accepts connections. Everything lives
// in a temporary directory (configuration, queue, log); SIGTERM stops Postfix and removes it.
// Postfix's master runs as root and drops to the `postfix` user: run as root, or with
// password-less sudo (then every postfix command goes through `sudo -n`).
// Outbound mail (bounces) is never sent anywhere: default_transport is `error`.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

let port = 0, domain = 'corp.example', lmtp = '';
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--port') port = Number(process.argv[++i]);
  else if (process.argv[i] === '--domain') domain = process.argv[++i];
  else if (process.argv[i] === '--lmtp') lmtp = process.argv[++i];
}
if (!lmtp) { process.stderr.write('postfix_peer: --lmtp host:port is required\n'); process.exit(2); }

const asRoot = process.getuid() === 0 ? [] : ['sudo', '-n'];
function run(cmd, args) {
  const all = [...asRoot, cmd, ...args];
  return execFileSync(all[0], all.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
}

if (port === 0) port = await freePort();
const dir = mkdtempSync(path.join(tmpdir(), 'hermes-postfix-'));
chmodSync(dir, 0o755);  // Postfix's own processes (user postfix) reach data/ through it
const conf = path.join(dir, 'conf');
mkdirSync(conf);
mkdirSync(path.join(dir, 'queue'));
mkdirSync(path.join(dir, 'data'));
const uid = Number(execFileSync('id', ['-u', 'postfix']).toString().trim());
const log = path.join(dir, 'maillog');

writeFileSync(path.join(conf, 'main.cf'), `compatibility_level = 3.6
queue_directory = ${dir}/queue
data_directory = ${dir}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.test.example
mydomain = test.example
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = ${domain}
transport_maps = inline:{ ${domain}=lmtp:inet:${lmtp} }
default_transport = error:tests send no mail outside
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
maillog_file = ${log}
maillog_file_prefixes = ${tmpdir()}
smtputf8_enable = no
biff = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
`);
const services = [
  `127.0.0.1:${port} inet n - n - - smtpd`,
  'pickup unix n - n 60 1 pickup', 'cleanup unix n - n - 0 cleanup', 'qmgr unix n - n 300 1 qmgr',
  'tlsmgr unix - - n 1000? 1 tlsmgr', 'rewrite unix - - n - - trivial-rewrite', 'bounce unix - - n - 0 bounce',
  'defer unix - - n - 0 bounce', 'trace unix - - n - 0 bounce', 'verify unix - - n - 1 verify',
  'flush unix n - n 1000? 0 flush', 'proxymap unix - - n - - proxymap', 'smtp unix - - n - - smtp',
  'relay unix - - n - - smtp', 'showq unix n - n - - showq', 'error unix - - n - - error',
  'retry unix - - n - - error', 'discard unix - - n - - discard', 'lmtp unix - - n - - lmtp',
  'anvil unix - - n - 1 anvil', 'scache unix - - n - 1 scache', 'postlog unix-dgram n - n - 1 postlogd',
];
writeFileSync(path.join(conf, 'master.cf'), services.join('\n') + '\n');
try {
  chownSync(path.join(dir, 'data'), uid, -1);
} catch {
  run('chown', ['postfix', path.join(dir, 'data')]);
}

let stopped = false;
function stop() {
  if (stopped) return;
  stopped = true;
  try { run('postfix', ['-c', conf, 'abort']); } catch { /* not running */ }
  try { rmSync(dir, { recursive: true, force: true }); } catch { run('rm', ['-rf', dir]); }
}
process.on('SIGTERM', () => { stop(); process.exit(0); });
process.on('SIGINT', () => { stop(); process.exit(0); });
process.on('exit', stop);

try {
  run('postfix', ['-c', conf, 'start']);
} catch (err) {
  process.stderr.write(`postfix_peer: postfix start failed: ${err.stderr || err.message}\n`);
  if (existsSync(log)) process.stderr.write(readFileSync(log, 'utf8'));
  process.exit(1);
}

// Ready once smtpd answers its greeting.
const deadline = Date.now() + 20000;
for (;;) {
  const ok = await new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => {});
    s.once('data', (d) => { s.end('QUIT\r\n'); resolve(String(d).startsWith('220')); });
    s.once('error', () => resolve(false));
  });
  if (ok) break;
  if (Date.now() > deadline) {
    process.stderr.write('postfix_peer: smtpd did not answer within 20 s\n');
    if (existsSync(log)) process.stderr.write(readFileSync(log, 'utf8'));
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 100));
}
console.log(`listening ${port}`);
console.log(`log ${log}`);
setInterval(() => {}, 1 << 30);
