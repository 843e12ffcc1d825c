// An Express receiver for InboundFlow webhooks.
//
//   INBOUNDFLOW_SECRETS=<secret>[,<previous secret>] PORT=3000 node server.js
//
// - keeps the raw body (express.raw) and verifies it, both header sets (verify.js);
// - refuses a request whose timestamp is more than TOLERANCE_SECONDS (300) away: a replay;
// - skips a delivery_id it has already handled (retries and redeliveries keep their id);
// - answers 2xx first, then does the work, so slow work never turns into a timeout and a retry.
// Logs one JSON line per request on stdout. Replace handleEvent with your own work.
const express = require('express');
const { verifyInboundFlowWebhook, WebhookError } = require('./verify');

const secrets = (process.env.INBOUNDFLOW_SECRETS || '').split(',').map((s) => s.trim()).filter(Boolean);
if (secrets.length === 0) {
  console.error('Set INBOUNDFLOW_SECRETS to your signing secret (new,old during a rotation).');
  process.exit(2);
}
const toleranceSeconds = Number(process.env.TOLERANCE_SECONDS || 300);

// Delivery ids seen recently. One process only: with several, keep them in your database or
// Redis (an insert on a unique column, or SET NX with an expiry).
const seen = new Map();
const SEEN_FOR_MS = 24 * 3600 * 1000;
function firstTime(deliveryId) {
  const now = Date.now();
  for (const [id, at] of seen) { if (now - at < SEEN_FOR_MS) break; seen.delete(id); }
  if (seen.has(deliveryId)) return false;
  seen.set(deliveryId, now);
  return true;
}

function log(line) { process.stdout.write(JSON.stringify(line) + '\n'); }

async function handleEvent(payload) {
  // Your work: update the CRM, post to Slack… It runs after the answer has been sent.
  log({ handled: payload.delivery_id, event: payload.event });
}

const app = express();
// Our bodies are at most 100 KB (longer texts are cut to fit, with a link to the rest); the
// limit leaves room for the headers' worth of slack and refuses anything absurd.
app.post('/webhooks/inboundflow', express.raw({ type: 'application/json', limit: '200kb' }), (req, res) => {
  let payload;
  try {
    payload = verifyInboundFlowWebhook(req.body, req.headers, secrets, { toleranceSeconds });
  } catch (error) {
    const status = error instanceof WebhookError ? 401 : 400;
    log({ status, refused: String(error.message) });
    return res.status(status).json({ error: error.message });
  }
  if (!firstTime(payload.delivery_id)) {
    log({ status: 200, duplicate: payload.delivery_id });
    return res.status(200).json({ ok: true, duplicate: true });
  }
  res.status(200).json({ ok: true });
  log({ status: 200, accepted: payload.delivery_id, bytes: req.body.length });
  setImmediate(() => handleEvent(payload).catch((error) => log({ failed: payload.delivery_id, error: String(error) })));
});

app.use((error, req, res, next) => { // what express.raw refuses (413 over the limit), said plainly
  log({ status: error.status || 500, refused: error.type || String(error) });
  res.status(error.status || 500).json({ error: error.type || 'error' });
});

const server = app.listen(Number(process.env.PORT || 3000), process.env.HOST || '127.0.0.1', () => {
  log({ listening: server.address().port });
});
