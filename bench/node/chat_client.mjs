// Webhook load client for scenario 6 (run by run.mjs in a child process pinned to CPU 0),
// for the chat channels that take signed webhooks:
//   --kind slack     signed exactly as Slack signs (X-Slack-Signature: v0= + hex
//                    HMAC-SHA256(secret, "v0:<ts>:<body>"), X-Slack-Request-Timestamp): an
//                    event_callback with a `message` event in a DM, a unique event_id and ts;
//   --kind whatsapp  signed exactly as Meta signs (X-Hub-Signature-256: sha256= + hex
//                    HMAC-SHA256(app secret, body)): a whatsapp_business_account payload with
//                    one text message, a unique wamid, from one of `--concurrency` users.
// The requests are signed before the clock starts, so the client's own HMACs are not measured. `--concurrency` lanes post them over keep-alive
// connections for `--seconds`; a 503 (no headroom) makes the lane back off 50–100 ms, as
// Slack would, instead of spinning. Then it polls the Web API stand-in's GET /stats until
// chat.postMessage calls stop growing (or every acknowledged event is answered, or
// --max-wait-s). Prints one JSON object:
//   {acked, overloaded, codes, errors, seconds, delivered, delivery_seconds, drained, client_cpu}
// `delivery_seconds` runs from the start of the load to the last growth of the count;
// `client_cpu` is the share of one CPU this client used while loading (near 1: the client,
// not hermesd, may be the limit).
//
//   node chat_client.mjs --kind slack|whatsapp --url URL --secret S --stats URL [--concurrency 64]
//     [--seconds 10] [--max-wait-s 30]
// chat.postMessage calls (slack) or Graph API text messages (whatsapp) count as delivered.
import crypto from 'node:crypto';
import http from 'node:http';

const args = { kind: 'slack', concurrency: '64', seconds: '10', 'max-wait-s': '30' };
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const url = new URL(args.url);
const CONCURRENCY = Number(args.concurrency);
const SECONDS = Number(args.seconds);
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// As many DM conversations as lanes, each with its own user, dealt round-robin: that many
// people writing to the bot, each with a session whose history grows to its cap.
const base = Math.floor(Date.now() / 1000);
function signedSlackEvent(i) {
  const ts = `${base + Math.floor(i / 1e6)}.${String(i % 1e6).padStart(6, '0')}`;
  const lane = i % CONCURRENCY;
  const body = JSON.stringify({
    token: 'bench', team_id: 'T1', api_app_id: 'A1', type: 'event_callback', event_id: `EvB${i}`, event_time: base,
    event: { type: 'message', channel: `DBENCH${lane}`, user: `UBENCH${lane}`, text: `hello bench ${i}`, ts,
             event_ts: ts, channel_type: 'im' },
    authorizations: [{ team_id: 'T1', user_id: 'UBOT', is_bot: true }],
  });
  // The timestamp is when the request is signed: Slack's rule is 5 minutes, more than a run.
  const stamp = String(Math.floor(Date.now() / 1000));
  const signature = 'v0=' + crypto.createHmac('sha256', args.secret).update(`v0:${stamp}:${body}`).digest('hex');
  return { body, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
                            'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
                            'x-slack-request-timestamp': stamp, 'x-slack-signature': signature } };
}

function signedWhatsAppEvent(i) {
  const lane = i % CONCURRENCY;
  const from = String(15550100000 + lane);
  const body = JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: 'WABA1', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: { display_phone_number: '15550001111', phone_number_id: '106540352242922' },
      contacts: [{ profile: { name: `Bench ${lane}` }, wa_id: from }],
      messages: [{ from, id: `wamid.BENCHIN${i}`, timestamp: String(base), type: 'text', text: { body: `hello bench ${i}` } }],
    } }] }],
  });
  const signature = 'sha256=' + crypto.createHmac('sha256', args.secret).update(body).digest('hex');
  return { body, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
                            'user-agent': 'facebookexternalua', 'x-hub-signature-256': signature } };
}

const signedEvent = args.kind === 'whatsapp' ? signedWhatsAppEvent : signedSlackEvent;

// More than hermesd can take in the time; past the end, events are signed as they are sent.
const pregenerated = Array.from({ length: Math.max(2000, 5000 * SECONDS) }, (_, i) => signedEvent(i));
let next = 0;
const take = () => (next < pregenerated.length ? pregenerated[next++] : signedEvent(next++));

// Resolves the status code, or 0 for a socket error.
function post({ body, headers }) {
  return new Promise((resolve) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers },
                             (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

async function stats() {
  const counts = await (await fetch(args.stats)).json();
  return args.kind === 'whatsapp' ? counts.whatsapp_messages : counts.chat_postMessage;
}

const counts = { acked: 0, overloaded: 0, errors: 0 };
const codes = {};
const postedBefore = await stats();
const start = Date.now();
const deadline = start + SECONDS * 1000;
const cpuBefore = process.cpuUsage();

async function lane() {
  while (Date.now() < deadline) {
    const status = await post(take());
    if (status === 200) { counts.acked++; continue; }
    if (status === 503) counts.overloaded++;
    else if (status === 0) counts.errors++;
    else codes[status] = (codes[status] ?? 0) + 1;
    await sleep(50 + Math.random() * 50);  // back off as Slack and Meta do, rather than spin
  }
}

await Promise.all(Array.from({ length: CONCURRENCY }, lane));
const seconds = (Date.now() - start) / 1000;
const cpu = process.cpuUsage(cpuBefore);
agent.destroy();

// Answers go out after the acknowledgement: wait until the stand-in's count stops growing.
let delivered = (await stats()) - postedBefore, lastGrowth = Date.now();
const waitUntil = Date.now() + Number(args['max-wait-s']) * 1000;
while (Date.now() < waitUntil && delivered < counts.acked && Date.now() - lastGrowth < 1000) {
  await sleep(50);
  const now = (await stats()) - postedBefore;
  if (now > delivered) { delivered = now; lastGrowth = Date.now(); }
}
console.log(JSON.stringify({ ...counts, codes, seconds, delivered, delivery_seconds: (lastGrowth - start) / 1000,
                             drained: delivered >= counts.acked, client_cpu: (cpu.user + cpu.system) / 1e6 / seconds }));
