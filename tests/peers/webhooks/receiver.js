// A webhook receiver that checks the gateway's event deliveries with the Standard Webhooks
// reference library for JavaScript (npm "standardwebhooks"), as an integrator's Node service
// would. Usage: node receiver.js PORT SECRET OUTFILE; prints the port it listens on (127.0.0.1),
// appends one JSON line per request to OUTFILE: {"ok": true, "id": ..., "type": ...} or
// {"ok": false, "error": ...}, and answers 204 or 401.
"use strict";
const http = require("http");
const fs = require("fs");
const { Webhook } = require("standardwebhooks");

const [port, secret, outfile] = process.argv.slice(2);
const webhook = new Webhook(secret.replace(/^whsec_/, ""));

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    let line;
    try {
      const event = webhook.verify(body, request.headers);
      line = { ok: true, id: event.id, type: event.type, specversion: event.specversion,
               webhookId: request.headers["webhook-id"] };
      response.writeHead(204);
    } catch (error) {
      line = { ok: false, error: String(error && error.message) };
      response.writeHead(401);
    }
    fs.appendFileSync(outfile, JSON.stringify(line) + "\n");
    response.end();
  });
});
server.listen(Number(port), "127.0.0.1", () => {
  process.stdout.write(String(server.address().port) + "\n");
});
