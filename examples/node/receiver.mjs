// A webhook receiver that verifies Hookline's deliveries with the `standardwebhooks` npm package
// (and the plain hex header with node:crypto).
//
// Usage: npm install && node receiver.mjs SECRET [HEX_HEADER_NAME]
// Listens on 127.0.0.1 on a free port and prints `PORT <n>`. Answers 204 when the Standard
// Webhooks signature verifies, 400 otherwise, and logs one JSON line per request:
// {"ok", "hex_ok", "id", "error"}. Stops when standard input closes.
import crypto from "node:crypto";
import http from "node:http";
import { Webhook } from "standardwebhooks";

const secret = process.argv[2];
const hexHeader = (process.argv[3] ?? "X-Hookline-Signature").toLowerCase();
const wh = new Webhook(secret);

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks); // verify the raw bytes, never re-serialised JSON
    const expected = crypto.createHmac("sha256", secret).update(body).digest("hex");
    const given = String(req.headers[hexHeader] ?? "");
    const hexOk = given.length === expected.length && crypto.timingSafeEqual(Buffer.from(given), Buffer.from(expected));
    let result = { ok: true, hex_ok: hexOk, id: req.headers["webhook-id"] ?? null, error: null };
    try {
      wh.verify(body.toString("utf8"), req.headers);
    } catch (e) {
      result = { ...result, ok: false, error: String(e.message ?? e) };
    }
    console.log(JSON.stringify(result));
    res.writeHead(result.ok ? 204 : 400).end();
  });
});

server.listen(0, "127.0.0.1", () => console.log(`PORT ${server.address().port}`));
process.stdin.resume();
process.stdin.on("end", () => server.close(() => process.exit(0)));
