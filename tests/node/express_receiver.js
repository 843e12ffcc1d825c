// A receiver written exactly as our documentation tells customers to: express.json() with its
// default limit (100 KB), then the documented verifyWebhook on the parsed body.
// Usage: node express_receiver.js SECRET. Prints {"port": N} once listening, then one JSON line
// per request: {"status", "verified", "body"} (the parsed body, when there was one).
const { verifyWebhook } = require('./verify-webhook');
const express = require('express');

const secret = process.argv[2];
const app = express();
app.use(express.json());

app.post('/hook', (req, res) => {
  let verified = false;
  try {
    verified = verifyWebhook(req.body, req.headers['x-inboundflow-timestamp'], req.headers['x-inboundflow-signature'], secret);
  } catch (e) {
    verified = false;
  }
  const status = verified ? 200 : 401;
  process.stdout.write(JSON.stringify({ status, verified, body: req.body }) + '\n');
  res.status(status).json({ ok: verified });
});

// What express.json() refuses (413 for a body over its limit) is reported too.
app.use((err, req, res, next) => {
  process.stdout.write(JSON.stringify({ status: err.status || 500, verified: false, error: err.type }) + '\n');
  res.status(err.status || 500).end();
});

const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
