// receiver.js - an OTLP/HTTP receiver for tests/test_otlp.sh.
//
// Usage: node receiver.js OUT_FILE   (NODE_PATH holds the npm package
// @opentelemetry/otlp-transformer 0.52.1)
//
// Listens on two free loopback ports and prints "port N" (the collector)
// and "control N". Each POST /v1/metrics is decoded with the generated
// classes of @opentelemetry/otlp-transformer (ExportMetricsServiceRequest
// fromObject, then toObject with 64-bit integers as strings): the decoded
// request must equal the JSON as sent, so that no field was misspelled or
// of the wrong type (fromObject drops what it does not know); then it is
// appended to OUT_FILE as one line of JSON, or an {"error": ...} line.
// GET /mode/NAME on the control port sets how the collector answers:
// ok (200), 500, hang (never answers), garbage (not HTTP), down (stops
// listening; ok listens again on the same port).
"use strict";
const fs = require("fs");
const http = require("http");
const net = require("net");
const root = require("@opentelemetry/otlp-transformer/build/src/generated/root");
const Req = root.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;

const out = process.argv[2];
let mode = "ok";
let port = 0;
const open = new Set();

// Numbers as the JSON mapping allows them both ways: a double the sender
// wrote as 1 may come back as 1, "NaN" as NaN; an empty repeated field
// may be left out.
function same(a, b) {
    if (Array.isArray(a) && a.length === 0 && b === undefined) return true;
    if (typeof a === "number" || typeof b === "number") return Number(a) === Number(b) ||
        (Number.isNaN(Number(a)) && Number.isNaN(Number(b)));
    if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
    if (a && typeof a === "object") {
        if (!b || typeof b !== "object") return false;
        const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
        return [...keys].every((k) => same(a[k], b[k]));
    }
    return a === b;
}

function handle(req, res) {
    let body = [];
    req.on("data", (d) => body.push(d));
    req.on("end", () => {
        if (mode === "hang") return;
        if (mode === "garbage") { req.socket.end("garbage\r\n\r\n"); return; }
        if (mode === "500") { res.writeHead(500); res.end("no\n"); return; }
        if (req.method !== "POST" || req.url !== "/v1/metrics" ||
            req.headers["content-type"] !== "application/json") {
            fs.appendFileSync(out, JSON.stringify({ error: "bad request " + req.method + " " + req.url }) + "\n");
            res.writeHead(400); res.end(); return;
        }
        let line;
        try {
            const sent = JSON.parse(Buffer.concat(body).toString("utf8"));
            const decoded = Req.toObject(Req.fromObject(sent), { longs: String, enums: Number });
            line = same(sent, decoded) ? decoded
                : { error: "decoded differs", sent: sent, decoded: decoded };
        } catch (e) {
            line = { error: String(e) };
        }
        fs.appendFileSync(out, JSON.stringify(line) + "\n");
        res.writeHead(line.error ? 400 : 200, { "Content-Type": "application/json" });
        res.end("{}");
    });
}

const server = http.createServer(handle);
server.on("connection", (s) => { open.add(s); s.on("close", () => open.delete(s)); });
server.listen(0, "127.0.0.1", () => {
    port = server.address().port;
    const control = http.createServer((req, res) => {
        const m = /^\/mode\/(ok|500|hang|garbage|down)$/.exec(req.url);
        if (!m) { res.writeHead(404); res.end(); return; }
        const was = mode;
        mode = m[1];
        if (mode === "down" && was !== "down") {
            server.close();
            for (const s of open) s.destroy();
        } else if (mode !== "down" && was === "down") {
            server.listen(port, "127.0.0.1");
        }
        if (mode !== "hang") for (const s of open) s.destroy();
        res.end(mode + "\n");
    });
    control.listen(0, "127.0.0.1", () => {
        console.log("port " + port);
        console.log("control " + control.address().port);
    });
});
