// Reads one JSON request per line: {body_b64, timestamp, signature, secret}.
// Answers one line per request: {"roundtrip": bool, "verified": bool}.
// `verifyWebhook` is the documented verify-webhook.js, verbatim; like express.json(), the
// body is decoded as UTF-8 and JSON.parse'd before it is handed over.
const { verifyWebhook } = require('./verify-webhook');
const readline = require('readline');

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const request = JSON.parse(line);
  const raw = Buffer.from(request.body_b64, 'base64').toString('utf8');
  const parsed = JSON.parse(raw);
  let verified = false;
  try {
    verified = verifyWebhook(parsed, request.timestamp, request.signature, request.secret);
  } catch (e) {
    verified = false; // timingSafeEqual throws on a length mismatch
  }
  process.stdout.write(JSON.stringify({ roundtrip: JSON.stringify(parsed) === raw, verified }) + '\n');
});
