// The email channel end to end: nodemailer hands mail to hermesd over LMTP (as an MTA's
// LMTP client would), the SMTP submission stand-in (tests/peers/smtp_peer.mjs, npm
// smtp-server) records the replies, and mailparser reads them as a mail client would.
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import { simpleParser } from 'mailparser';

import { Daemon, freePort, sleep, startPeer, withLog } from './daemon.mjs';

let scratch;
let recordFile;

function config(lmtpPort, smtpPort) {
  return ({ dataDir, port }) => `
gateway: {instance: e2e-email, data_dir: "${dataDir}", threads: 2}
listeners:
  - {name: local, bind: loopback, port: ${port}}
  - {name: mail-in, bind: loopback, port: ${lmtpPort}, protocol: lmtp, max_message_size: 1MiB}
channels:
  - name: mail
    type: email
    listener: mail-in
    addresses: [billing@corp.example, support@corp.example]
    from: "Corp Support <support@corp.example>"
    smtp: {host: 127.0.0.1, port: ${smtpPort}, security: none}
models:
  - {name: demo, type: echo}
  - {name: slow, type: echo, chunks: 4, delay: 500ms}
agents:
  - {name: general, model: demo}
  - {name: billing, model: demo}
  - {name: patient, model: slow}
routes:
  - {name: slow-ones, match: {text_any: [slowly]}, agent: patient}
  - {name: billing-mail, match: {recipient: billing@corp.example}, agent: billing}
  - {name: default, agent: general}
outbox: {first_backoff: 100ms, max_backoff: 400ms, max_attempts: 5}
`;
}

// What the submission stand-in accepted so far, parsed as a mail client parses it.
async function replies() {
  if (!existsSync(recordFile)) return [];
  const lines = readFileSync(recordFile, 'utf8').split('\n').filter(Boolean);
  const out = [];
  for (const line of lines) {
    const record = JSON.parse(line);
    const raw = Buffer.from(record.data, 'base64');
    out.push({ envelope: record, raw: raw.toString('utf8'), mail: await simpleParser(raw) });
  }
  return out;
}

async function waitForReplies(n, ms = 10000) {
  const deadline = Date.now() + ms;
  let got = [];
  while (Date.now() < deadline) {
    got = await replies();
    if (got.length >= n) return got;
    await sleep(50);
  }
  return got;
}

async function metric(daemon, name, labels) {
  const text = await (await fetch(`http://127.0.0.1:${daemon.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + '{') && labels.every((x) => l.includes(x)));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('email channel over LMTP and SMTP submission', () => {
  const daemon = new Daemon();
  let smtp;
  let lmtpPort;
  let transport;

  before(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'hermes-email-'));
    recordFile = path.join(scratch, 'sent.jsonl');
    const started = await startPeer('smtp_peer.mjs', ['--record', recordFile]);
    smtp = started.peer;
    lmtpPort = await freePort();
    await daemon.start(config(lmtpPort, started.port));
    // nodemailer's LMTP client, as an MTA's LMTP delivery agent speaks it.
    transport = nodemailer.createTransport({ host: '127.0.0.1', port: lmtpPort, lmtp: true, ignoreTLS: true });
  });

  after(async () => {
    transport?.close();
    await daemon.stop();
    smtp?.kill();
    await rm(scratch, { recursive: true, force: true });
  });

  test('a mail to billing@ is routed to the billing agent and answered in its thread', withLog(daemon, async () => {
    const info = await transport.sendMail({
      envelope: { from: 'ana@customer.example', to: ['billing@corp.example'] },
      from: 'Ana Lima <ana@customer.example>',
      to: 'billing@corp.example',
      subject: 'Invoice 42 is wrong',
      messageId: '<invoice-42@customer.example>',
      references: '<root-1@customer.example>',
      text: 'Hello,\nmy invoice lists two seats.\n\nOn Mon, 7 Dec 2026 at 10:00, Corp <support@corp.example> wrote:\n> old text\n',
    });
    assert.deepEqual(info.accepted, ['billing@corp.example']);
    const got = await waitForReplies(1);
    assert.equal(got.length, 1);
    const { envelope, raw, mail } = got[0];
    assert.deepEqual(envelope.to, ['ana@customer.example']);
    assert.equal(envelope.from, '', 'the null reverse-path (RFC 3834)');
    assert.equal(mail.subject, 'Re: Invoice 42 is wrong');
    assert.equal(mail.inReplyTo, '<invoice-42@customer.example>');
    assert.deepEqual(mail.references, ['<root-1@customer.example>', '<invoice-42@customer.example>']);
    assert.equal(mail.headers.get('auto-submitted'), 'auto-replied');
    assert.equal(mail.from.value[0].address, 'support@corp.example');
    assert.equal(mail.to.value[0].address, 'ana@customer.example');
    assert.match(mail.messageId, /^<hermes\.[0-9a-f]{32}@corp\.example>$/);
    assert.match(mail.text, /billing/, 'the billing agent answered');
    assert.match(mail.text, /two seats/);
    assert.doesNotMatch(mail.text, /old text/, 'the quoted history was trimmed before the agent saw it');
    assert.ok(!/[^\r]\n/.test(raw), 'CRLF line endings only');
  }));

  test('auto-replies and list mail are never answered', withLog(daemon, async () => {
    const before = (await replies()).length;
    await transport.sendMail({
      envelope: { from: 'ana@customer.example', to: ['support@corp.example'] },
      from: 'ana@customer.example', to: 'support@corp.example', subject: 'Out of office',
      headers: { 'Auto-Submitted': 'auto-replied' }, text: 'I am away.',
    });
    await transport.sendMail({
      envelope: { from: 'list-bounces@lists.example', to: ['support@corp.example'] },
      from: 'news@lists.example', to: 'support@corp.example', subject: 'Weekly digest',
      headers: { 'List-Id': '<weekly.lists.example>' }, text: 'News.',
    });
    await transport.sendMail({
      envelope: { from: '', to: ['support@corp.example'] },
      from: 'MAILER-DAEMON@mx.customer.example', to: 'support@corp.example', subject: 'Undelivered Mail',
      text: 'Your message could not be delivered.',
    });
    await transport.sendMail({
      envelope: { from: 'ana@customer.example', to: ['support@corp.example'] },
      from: 'ana@customer.example', to: 'support@corp.example', subject: 'Automatic reply: away',
      headers: { 'X-Autoreply': 'yes', 'X-Auto-Response-Suppress': 'All' }, text: 'Away (Exchange style).',
    });
    await sleep(700);
    assert.equal((await replies()).length, before, 'no reply to automatic mail');
    assert.equal(await metric(daemon, 'hermes_email_messages_total', ['outcome="skipped_auto_submitted"']), 2);
    assert.equal(await metric(daemon, 'hermes_email_messages_total', ['outcome="skipped_mailing_list"']), 1);
    assert.equal(await metric(daemon, 'hermes_email_messages_total', ['outcome="skipped_null_reverse_path"']), 1);
  }));

  test('one message to two addresses, delivered twice, is answered once; an unknown recipient is refused at RCPT',
    withLog(daemon, async () => {
      const before = (await replies()).length;
      const message = {
        envelope: { from: 'bo@customer.example', to: ['billing@corp.example', 'support@corp.example', 'nobody@corp.example'] },
        from: 'bo@customer.example', to: 'billing@corp.example, support@corp.example', subject: 'Both of you',
        messageId: '<both-1@customer.example>', text: 'Who answers?',
      };
      const info = await transport.sendMail(message);
      assert.deepEqual(info.accepted.sort(), ['billing@corp.example', 'support@corp.example']);
      assert.deepEqual(info.rejected, ['nobody@corp.example']);
      assert.match(info.rejectedErrors[0].response, /^550 5\.1\.1/);
      const again = await transport.sendMail({ ...message, envelope: { ...message.envelope, to: ['support@corp.example'] } });
      assert.deepEqual(again.accepted, ['support@corp.example'], 'a second delivery is accepted (and not answered)');
      const got = await waitForReplies(before + 1);
      await sleep(500);
      const mine = (await replies()).filter((r) => r.mail.inReplyTo === '<both-1@customer.example>');
      assert.equal(mine.length, 1, 'answered once');
      assert.ok(got.length >= before + 1);
    }));

  test('swaks speaking LMTP is answered too', withLog(daemon, async () => {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync('swaks', ['--protocol', 'LMTP', '--server', `127.0.0.1:${lmtpPort}`,
      '--from', 'gus@customer.example', '--to', 'support@corp.example',
      '--header', 'Subject: From swaks', '--header', 'Message-Id: <swaks-1@customer.example>',
      '--body', 'Sent by swaks.', '--hide-all'], { timeout: 10000 }).toString();
    assert.equal(out, '');
    const deadline = Date.now() + 10000;
    let mine = [];
    while (Date.now() < deadline && mine.length === 0) {
      mine = (await replies()).filter((r) => r.mail.inReplyTo === '<swaks-1@customer.example>');
      if (mine.length === 0) await sleep(100);
    }
    assert.equal(mine.length, 1);
    assert.equal(mine[0].mail.subject, 'Re: From swaks');
  }));

  test('kill -9 after the 250 still ends with exactly one answer', withLog(daemon, async () => {
    const info = await transport.sendMail({
      envelope: { from: 'cy@customer.example', to: ['support@corp.example'] },
      from: 'cy@customer.example', to: 'support@corp.example', subject: 'Crash test',
      messageId: '<crash-1@customer.example>', text: 'please answer slowly',
    });
    assert.deepEqual(info.accepted, ['support@corp.example']);
    await daemon.kill9();  // the slow agent needs ~2 s: nothing was sent yet
    const mine = async () => (await replies()).filter((r) => r.mail.inReplyTo === '<crash-1@customer.example>');
    assert.equal((await mine()).length, 0);
    await daemon.restart();
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline && (await mine()).length === 0) await sleep(100);
    await sleep(500);
    assert.equal((await mine()).length, 1);
  }));
});

describe('email channel: a submission server that answers 451 first', () => {
  const daemon = new Daemon();
  let smtp;
  let ownRecord;

  before(async () => {
    ownRecord = path.join(await mkdtemp(path.join(tmpdir(), 'hermes-email-451-')), 'sent.jsonl');
    const started = await startPeer('smtp_peer.mjs', ['--record', ownRecord, '--fail-first', '451']);
    smtp = started.peer;
    const lmtpPort = await freePort();
    await daemon.start(config(lmtpPort, started.port));
    daemon.lmtpPort = lmtpPort;
  });

  after(async () => {
    await daemon.stop();
    smtp?.kill();
    await rm(path.dirname(ownRecord), { recursive: true, force: true });
  });

  test('the 451 is retried from the outbox and the reply goes out once', withLog(daemon, async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: daemon.lmtpPort, lmtp: true, ignoreTLS: true });
    await transport.sendMail({
      envelope: { from: 'di@customer.example', to: ['support@corp.example'] },
      from: 'di@customer.example', to: 'support@corp.example', subject: 'Retry me', text: 'hello',
    });
    transport.close();
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline && !(existsSync(ownRecord) && readFileSync(ownRecord, 'utf8').trim())) await sleep(100);
    const lines = readFileSync(ownRecord, 'utf8').split('\n').filter(Boolean);
    assert.equal(lines.length, 1);
    assert.equal(await metric(daemon, 'hermes_email_submissions_total', ['result="retry"']), 1);
    assert.equal(await metric(daemon, 'hermes_email_submissions_total', ['result="sent"']), 1);
  }));
});

// Postfix, as production runs it: smtpd takes the mail, a transport map hands the domain to
// hermesd over LMTP. Budget: Postfix starts in ~1-3 s; the mail is relayed within seconds.
describe('email channel behind a real Postfix', () => {
  const daemon = new Daemon();
  let smtp;
  let postfix;
  let postfixPort;
  let ownRecord;

  before(async () => {
    ownRecord = path.join(await mkdtemp(path.join(tmpdir(), 'hermes-email-pf-')), 'sent.jsonl');
    const started = await startPeer('smtp_peer.mjs', ['--record', ownRecord]);
    smtp = started.peer;
    const lmtpPort = await freePort();
    await daemon.start(config(lmtpPort, started.port));
    const mta = await startPeer('postfix_peer.mjs', ['--domain', 'corp.example', '--lmtp', `127.0.0.1:${lmtpPort}`]);
    postfix = mta.peer;
    postfixPort = mta.port;
  });

  after(async () => {
    postfix?.kill('SIGTERM');
    await daemon.stop();
    smtp?.kill();
    await rm(path.dirname(ownRecord), { recursive: true, force: true });
  });

  test('a mail Postfix relays by LMTP is answered in its thread', withLog(daemon, async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: postfixPort, ignoreTLS: true });
    const info = await transport.sendMail({
      envelope: { from: 'eve@customer.example', to: ['billing@corp.example'] },
      from: 'Eve <eve@customer.example>', to: 'billing@corp.example', subject: 'Via Postfix',
      messageId: '<via-postfix-1@customer.example>', text: 'Does the MTA path work?',
    });
    transport.close();
    assert.deepEqual(info.accepted, ['billing@corp.example']);
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline && !(existsSync(ownRecord) && readFileSync(ownRecord, 'utf8').trim())) await sleep(100);
    const lines = readFileSync(ownRecord, 'utf8').split('\n').filter(Boolean);
    assert.equal(lines.length, 1, 'one reply');
    const mail = await simpleParser(Buffer.from(JSON.parse(lines[0]).data, 'base64'));
    assert.equal(mail.inReplyTo, '<via-postfix-1@customer.example>');
    assert.match(mail.text, /billing/);
    assert.match(mail.text, /MTA path/);
  }));
});

// STARTTLS on the LMTP listener with its certificate (generated here, trusted by the client).
describe('email channel: LMTP with STARTTLS', () => {
  const daemon = new Daemon();
  let smtp;
  let dir;
  let lmtpPort;
  let certPem;
  let record;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hermes-email-tls-'));
    record = path.join(dir, 'sent.jsonl');
    const { execFileSync } = await import('node:child_process');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'),
      '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    certPem = readFileSync(path.join(dir, 'cert.pem'));
    const started = await startPeer('smtp_peer.mjs', ['--record', record]);
    smtp = started.peer;
    lmtpPort = await freePort();
    const plain = config(lmtpPort, started.port);
    await daemon.start((ports) => plain(ports).replace(
      `protocol: lmtp, max_message_size: 1MiB}`,
      `protocol: lmtp, max_message_size: 1MiB, tls: {cert: "${dir}/cert.pem", key: "${dir}/key.pem"}}`));
  });

  after(async () => {
    await daemon.stop();
    smtp?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  test('a client that requires TLS delivers through STARTTLS and is answered', withLog(daemon, async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: lmtpPort, lmtp: true, requireTLS: true,
                                                   tls: { ca: certPem, servername: 'localhost' } });
    const info = await transport.sendMail({
      envelope: { from: 'fay@customer.example', to: ['support@corp.example'] },
      from: 'fay@customer.example', to: 'support@corp.example', subject: 'Over TLS',
      messageId: '<tls-1@customer.example>', text: 'Encrypted hop.',
    });
    transport.close();
    assert.deepEqual(info.accepted, ['support@corp.example']);
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline && !(existsSync(record) && readFileSync(record, 'utf8').trim())) await sleep(100);
    const mail = await simpleParser(Buffer.from(JSON.parse(readFileSync(record, 'utf8').split('\n')[0]).data, 'base64'));
    assert.equal(mail.inReplyTo, '<tls-1@customer.example>');
  }));
});
