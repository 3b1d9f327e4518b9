// A stand-in SMTP submission server (npm smtp-server; `scripts/setup-node` installs it) on 127.0.0.1.
//   node tests/peers/smtp_peer.mjs --port 0 --record FILE [--tls-cert F --tls-key F] [--secure]
//        [--auth user:pass [--auth-methods LOGIN]] [--fail-first 451|550] [--fail-rcpt 451|550] [--drop-in-data] [--drop-after-data]
// Prints "listening <port>" on stdout once bound, and nothing else on stdout (NodePeer stops
// reading it after that line, so the pipe must not fill).
//
// Output protocol: every accepted message is appended to --record FILE as one JSON line,
//   {"from":"a@x","to":["b@y"],"data":"<base64 of the bytes after dot-unstuffing>",
//    "secure":true,"user":"user"|null,"args":{"SIZE":"123","BODY":"8BITMIME"}}
// written (synchronously) before the 250 to the final "." goes out, so a client that got its
// 250 finds the line there. (A file rather than a control port: NodePeer reports one port.)
//
//   --tls-cert/--tls-key  PEM files: STARTTLS is offered (without them it is not)
//   --secure              implicit TLS (port 465 style) with that certificate
//   --auth user:pass      AUTH PLAIN and LOGIN, required before MAIL; anything else gets 535
//   --auth-methods LIST   what AUTH offers instead, e.g. LOGIN
//   --fail-first N        the first message's final "." is answered N (4.3.0 / 5.7.1), later ones 250
//   --fail-rcpt N         the first RCPT TO is answered N, later ones accepted
//   --drop-in-data        the connection is reset as soon as DATA's 354 went out (nothing read)
//   --drop-after-data     the whole message is read, then the connection closed without a reply
import fs from 'node:fs';
import { SMTPServer } from 'smtp-server';

const opts = { port: 0, record: null, cert: null, key: null, secure: false, auth: null,
               authMethods: ['PLAIN', 'LOGIN'], failFirst: 0, failRcpt: 0, dropInData: false, dropAfterData: false };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--port') opts.port = Number(process.argv[++i]);
  else if (a === '--record') opts.record = process.argv[++i];
  else if (a === '--tls-cert') opts.cert = fs.readFileSync(process.argv[++i]);
  else if (a === '--tls-key') opts.key = fs.readFileSync(process.argv[++i]);
  else if (a === '--secure') opts.secure = true;
  else if (a === '--auth') opts.auth = process.argv[++i];
  else if (a === '--auth-methods') opts.authMethods = process.argv[++i].split(',');
  else if (a === '--fail-first') opts.failFirst = Number(process.argv[++i]);
  else if (a === '--fail-rcpt') opts.failRcpt = Number(process.argv[++i]);
  else if (a === '--drop-in-data') opts.dropInData = true;
  else if (a === '--drop-after-data') opts.dropAfterData = true;
  else { process.stderr.write(`smtp_peer: unknown argument ${a}\n`); process.exit(2); }
}

function scripted(code, text) {
  const err = new Error(text);
  err.responseCode = code;
  return err;
}
function enhanced(code) { return code >= 500 ? '5.7.1' : '4.3.0'; }

// The raw TCP sockets by the client's port, so a session can be cut at any point.
const sockets = new Map();
let failFirst = opts.failFirst;
let failRcpt = opts.failRcpt;
const disabled = [];
if (!opts.cert || opts.secure) disabled.push('STARTTLS');
if (!opts.auth) disabled.push('AUTH');

const server = new SMTPServer({
  secure: opts.secure,
  key: opts.key ?? undefined,
  cert: opts.cert ?? undefined,
  name: 'smtp-peer.test',
  banner: 'smtp_peer ready',
  size: 64 * 1024 * 1024,
  authMethods: opts.authMethods,
  authOptional: !opts.auth,
  allowInsecureAuth: true,  // the client decides (loopback may authenticate in clear)
  disabledCommands: disabled,
  logger: false,
  onAuth(auth, session, callback) {
    const [user, pass] = (opts.auth ?? ':').split(/:(.*)/s);
    if (auth.username === user && auth.password === pass) return callback(null, { user });
    return callback(scripted(535, '5.7.8 Authentication credentials invalid'));
  },
  onRcptTo(address, session, callback) {
    if (failRcpt) {
      const code = failRcpt;
      failRcpt = 0;
      return callback(scripted(code, `${enhanced(code)} scripted RCPT failure`));
    }
    return callback();
  },
  onData(stream, session, callback) {
    if (opts.dropInData) {
      sockets.get(session.remotePort)?.resetAndDestroy();
      stream.resume();
      return;
    }
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => {
      if (opts.dropAfterData) {
        sockets.get(session.remotePort)?.destroy();
        return;
      }
      if (failFirst) {
        const code = failFirst;
        failFirst = 0;
        return callback(scripted(code, `${enhanced(code)} scripted failure`));
      }
      const env = session.envelope;
      const record = {
        from: env.mailFrom ? env.mailFrom.address : null,
        to: env.rcptTo.map((r) => r.address),
        data: Buffer.concat(chunks).toString('base64'),
        secure: Boolean(session.secure),
        user: session.user ?? null,
        args: (env.mailFrom && env.mailFrom.args) || {},
      };
      if (opts.record) fs.appendFileSync(opts.record, `${JSON.stringify(record)}\n`);
      return callback(null, 'OK: queued');
    });
  },
});
server.on('error', (err) => process.stderr.write(`smtp_peer: ${err.message}\n`));
server.server.on('connection', (socket) => {
  const port = socket.remotePort;
  sockets.set(port, socket);
  socket.on('close', () => sockets.delete(port));
});
server.listen(opts.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
