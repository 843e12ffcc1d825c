// Verifying an InboundFlow webhook on the raw bytes of the request, with no dependency.
//
// Both header sets are checked when present:
//   X-InboundFlow-Signature: sha256=<hex HMAC-SHA256 of "{X-InboundFlow-Timestamp}.{body}">
//   webhook-signature:       v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">
//                            (Standard Webhooks; several, space-separated, during a rotation)
// `secrets` is a list: during a rotation give the new secret and the old one; either may sign.
const crypto = require('crypto');

class WebhookError extends Error {}

function hmac(secret, data, encoding) {
  return crypto.createHmac('sha256', Buffer.from(secret, 'utf8')).update(data).digest(encoding);
}

function sameText(a, b) {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}

// Returns the parsed payload, or throws WebhookError saying what is wrong.
function verifyInboundFlowWebhook(rawBody, headers, secrets, { toleranceSeconds = 300, now = Date.now() / 1000 } = {}) {
  if (!Buffer.isBuffer(rawBody)) throw new WebhookError('the raw body is needed (a Buffer), not a parsed object');
  const timestamp = headers['x-inboundflow-timestamp'];
  const signature = headers['x-inboundflow-signature'];
  if (!timestamp || !signature) throw new WebhookError('missing X-InboundFlow-Timestamp or X-InboundFlow-Signature');
  if (!/^\d+$/.test(timestamp)) throw new WebhookError('X-InboundFlow-Timestamp is not a unix time');
  if (Math.abs(now - Number(timestamp)) > toleranceSeconds) throw new WebhookError('timestamp outside the tolerance: a replay, or a clock far off');
  const signed = Buffer.concat([Buffer.from(`${timestamp}.`, 'utf8'), rawBody]);
  if (!secrets.some((secret) => sameText(signature, 'sha256=' + hmac(secret, signed, 'hex')))) {
    throw new WebhookError('X-InboundFlow-Signature does not match any secret');
  }
  const id = headers['webhook-id'];
  const standard = headers['webhook-signature'];
  if (standard !== undefined) {
    if (headers['webhook-timestamp'] !== timestamp || !id) throw new WebhookError('webhook-id / webhook-timestamp missing or different');
    const content = Buffer.concat([Buffer.from(`${id}.${timestamp}.`, 'utf8'), rawBody]);
    const expected = secrets.map((secret) => 'v1,' + hmac(secret, content, 'base64'));
    const offered = standard.split(' ');
    if (!offered.some((candidate) => expected.some((mine) => sameText(candidate, mine)))) {
      throw new WebhookError('webhook-signature does not match any secret');
    }
  }
  const payload = JSON.parse(rawBody.toString('utf8'));
  if (payload.delivery_id !== headers['x-inboundflow-delivery-id']) throw new WebhookError('delivery_id differs from its header');
  return payload;
}

module.exports = { verifyInboundFlowWebhook, WebhookError };
