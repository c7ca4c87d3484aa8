// goldtrail-verify.mjs under Node's own test runner, against real passports written by
// tests/test_js_verifier.py into $GOLDTRAIL_PASSPORTS: every valid-*.json must verify
// (with the log key in log.key, and without it), every tampered-*.json must fail, naming
// the check listed in its tampered-*.expect file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { webcrypto } from "node:crypto";
import { inclusionRanges, jcs, parseLogKey, verifyPassport } from "../../app/api/pages/static/goldtrail-verify.mjs";

const folder = process.env.GOLDTRAIL_PASSPORTS;
const read = (name) => JSON.parse(readFileSync(join(folder, name), "utf8"));
const logKey = readFileSync(join(folder, "log.key"), "utf8").trim();
const files = readdirSync(folder);

test("RFC 8785 bytes of a passport's own vector", () => {
  assert.equal(jcs({ b: [1, 2.5, "é"], a: null, "\u00e9": true }), '{"a":null,"b":[1,2.5,"é"],"é":true}');
  assert.equal(jcs({ n: 855.0, m: 1e21, s: "a\"b" }), '{"m":1e+21,"n":855,"s":"a\\"b"}');
});

test("a verifier key whose base64 holds '+' is read whole", async () => {
  for (;;) {
    const raw = webcrypto.getRandomValues(new Uint8Array(32));
    const material = Buffer.from([1, ...raw]).toString("base64");
    if (!material.includes("+")) continue;
    const name = "example.org/log";
    const digest = new Uint8Array(await webcrypto.subtle.digest("SHA-256", Buffer.concat([Buffer.from(name + "\n"), Buffer.from([1]), raw])));
    const id = Buffer.from(digest.slice(0, 4)).toString("hex");
    const key = await parseLogKey(`${name}+${id}+${material}`);
    assert.equal(key.name, name);
    assert.equal(key.publicKey, Buffer.from(raw).toString("base64"));
    break;
  }
});

test("inclusion ranges follow RFC 9162 PATH", () => {
  assert.deepEqual(inclusionRanges(0, 1), []);
  assert.deepEqual(inclusionRanges(1, 2), [[0, 1]]);
  assert.deepEqual(inclusionRanges(5, 7), [[4, 5], [6, 7], [0, 4]]);
});

for (const name of files.filter((f) => f.startsWith("valid-"))) {
  test(`${name} verifies`, async () => {
    const passport = read(name);
    for (const options of [{ logKey }, {}]) {
      const report = await verifyPassport(passport, options);
      assert.ok(report.ok, JSON.stringify(report.failures));
      assert.ok(report.counts.ed25519 > 2 && report.counts.rfc9162 > 0);
    }
  });
}

for (const name of files.filter((f) => f.startsWith("tampered-") && f.endsWith(".json"))) {
  test(`${name} fails and says what`, async () => {
    const expected = readFileSync(join(folder, name.replace(".json", ".expect")), "utf8").trim();
    const report = await verifyPassport(read(name), { logKey });
    assert.equal(report.ok, false);
    const failed = report.failures.map((f) => f.check);
    assert.ok(failed.includes(expected), `expected ${expected} among ${failed}`);
  });
}

test("a passport checked against another log's key fails", async () => {
  const other = "goldtrail.example/log+bcc75f90+AT1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM";
  const report = await verifyPassport(read(files.find((f) => f.startsWith("valid-"))), { logKey: other });
  assert.equal(report.ok, false);
  assert.ok(report.failures.some((f) => f.check === "service key"));
});

test("what is not a passport is said to be so", async () => {
  const report = await verifyPassport({ format: "something else" });
  assert.equal(report.ok, false);
  assert.match(report.failures[0].detail, /not a goldtrail.passport.v2/);
});
