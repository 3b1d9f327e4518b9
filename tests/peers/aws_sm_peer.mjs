// A stand-in for AWS Secrets Manager's JSON protocol (what the gateway's `aws-sm:` references
// call): POST / with `X-Amz-Target: secretsmanager.GetSecretValue` and
// `Content-Type: application/x-amz-json-1.1`, signed with SigV4. The signature is checked
// with the npm `aws4` package (recomputed over the headers the request says it signed), so a
// wrong key, region, service, a changed body or a stale X-Amz-Date is refused as AWS does.
//
//   POST /  {"SecretId": "…"[, "VersionStage": "AWSCURRENT"]}
//     -> {"ARN","Name","SecretString","VersionId","VersionStages":["AWSCURRENT"],"CreatedDate"}
//     -> 400 {"__type":"ResourceNotFoundException","message":…}
//     -> 403 {"__type":"InvalidSignatureException"|"IncompleteSignatureException"|
//             "UnrecognizedClientException","message":…}
//   Test control: POST /_secret {"id","value"} sets (rotates) a secret; GET /_calls lists
//   the calls ({secret_id, outcome}).
//
//   node aws_sm_peer.mjs --port 0 --region eu-west-1 --access-key AKID… --secret-key … [--session-token …]
import crypto from 'node:crypto';
import http from 'node:http';
import aws4 from 'aws4';

const options = { port: 0, region: 'us-east-1', accessKey: '', secretKey: '', sessionToken: '' };
for (let i = 2; i < process.argv.length; i++) {
  const next = () => process.argv[++i];
  if (process.argv[i] === '--port') options.port = Number(next());
  if (process.argv[i] === '--region') options.region = next();
  if (process.argv[i] === '--access-key') options.accessKey = next();
  if (process.argv[i] === '--secret-key') options.secretKey = next();
  if (process.argv[i] === '--session-token') options.sessionToken = next();
}

const secrets = new Map();  // id -> {value, version}
const calls = [];

function sendJson(res, status, value) {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text),
                          'x-amzn-requestid': crypto.randomUUID() });
  res.end(text);
}

function awsError(res, status, type, message) {
  return sendJson(res, status, { __type: type, message });
}

// null when the request is signed right; otherwise [type, message] as AWS names them.
function signatureProblem(req, body) {
  const auth = req.headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return ['IncompleteSignatureException', 'Authorization header requires Credential, SignedHeaders and Signature'];
  const [, accessKey, date, region, service, signedHeaders] = m;
  if (accessKey !== options.accessKey) return ['UnrecognizedClientException', 'The security token included in the request is invalid.'];
  const amzDate = req.headers['x-amz-date'] ?? '';
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date) {
    return ['IncompleteSignatureException', 'X-Amz-Date is missing or does not match the credential scope'];
  }
  const when = Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  if (Math.abs(Date.now() - when) > 5 * 60 * 1000) return ['InvalidSignatureException', 'Signature expired'];
  if (options.sessionToken && req.headers['x-amz-security-token'] !== options.sessionToken) {
    return ['UnrecognizedClientException', 'The security token included in the request is invalid.'];
  }
  const headers = {};
  for (const name of signedHeaders.split(';')) headers[name] = req.headers[name] ?? '';
  const signer = new aws4.RequestSigner({ host: req.headers.host, method: req.method, path: req.url, service, region,
                                          headers, body, doNotModifyHeaders: true },
                                        { accessKeyId: options.accessKey, secretAccessKey: options.secretKey });
  signer.datetime = amzDate;
  if (signer.authHeader() !== auth || region !== options.region || service !== 'secretsmanager') {
    return ['InvalidSignatureException', 'The request signature we calculated does not match the signature you provided.'];
  }
  return null;
}

const server = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/_calls') return sendJson(res, 200, calls);
    if (req.url === '/_secret') {
      const { id, value } = JSON.parse(body);
      secrets.set(id, { value, version: crypto.randomUUID() });
      return sendJson(res, 200, { ok: true });
    }
    if (req.method !== 'POST' || req.url !== '/') return awsError(res, 404, 'UnknownOperationException', 'Unknown operation');
    const problem = signatureProblem(req, body);
    let args = {};
    try { args = JSON.parse(body || '{}'); } catch { /* below */ }
    if (problem) {
      calls.push({ secret_id: args.SecretId ?? null, outcome: problem[0] });
      return awsError(res, problem[0] === 'InvalidSignatureException' || problem[0] === 'IncompleteSignatureException' ? 403 : 400, ...problem);
    }
    if (req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') {
      return awsError(res, 400, 'UnknownOperationException', 'Unknown operation');
    }
    const secret = secrets.get(args.SecretId);
    calls.push({ secret_id: args.SecretId ?? null, outcome: secret ? 'ok' : 'ResourceNotFoundException' });
    if (!secret) return awsError(res, 400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return sendJson(res, 200, {
      ARN: `arn:aws:secretsmanager:${options.region}:123456789012:secret:${args.SecretId}-AbCdEf`,
      Name: args.SecretId, SecretString: secret.value, VersionId: secret.version, VersionStages: ['AWSCURRENT'],
      CreatedDate: Date.now() / 1000,
    });
  });
});
server.listen(options.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
