// goldtrail-verify.mjs — checks a Goldtrail green passport, trusting no server.
//
// A standalone ES module (no build step, no dependencies) for browsers and Node ≥ 18:
//   import { verifyPassport } from "./goldtrail-verify.mjs";
//   const report = await verifyPassport(passport, { logKey: "<origin>+<key id>+<key>" });
//   report.ok; report.failures;  // [{check, detail, seq}]
//
// It recomputes, with WebCrypto's Ed25519 and SHA-256, everything docs/PROTOCOL.md asks of
// a holder but the decimal arithmetic of the metrics (which the passport signature covers;
// `goldtrail verify` recomputes them): the RFC 8785 bytes and SHA-256 of every entry, every
// partner signature with a key valid at the entry's position, every service signature and
// receipt, every chain link, every RFC 9162 inclusion proof against the C2SP checkpoint, the
// checkpoint's signature, and, for a version 2 passport, that the inputs' summaries are those
// the transformation that made the lot names. Without `logKey` the passport's own service key
// is trusted, and the report says so. After a service key rotation, each key signs the
// positions the log's announcements give it (PROTOCOL.md §19), and a `logKey` of any of them
// is trusted to reach the passport's key.

const subtle = globalThis.crypto?.subtle ?? (await import("node:crypto")).webcrypto.subtle;
const encoder = new TextEncoder();

export const PASSPORT_V1 = "goldtrail.passport.v1";
export const PASSPORT_V2 = "goldtrail.passport.v2";

/** RFC 8785: ECMAScript number and string forms, members sorted by UTF-16 code units. */
export function jcs(value) {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return "[" + value.map(jcs).join(",") + "]";
  return "{" + Object.keys(value).sort().map((k) => JSON.stringify(k) + ":" + jcs(value[k])).join(",") + "}";
}

const bytes = (text) => encoder.encode(text);
const fromB64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
const sha256 = async (data) => new Uint8Array(await subtle.digest("SHA-256", data));
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Whether this runtime verifies Ed25519 with WebCrypto. */
export async function ed25519Supported() {
  try {
    await subtle.importKey("raw", new Uint8Array(32), { name: "Ed25519" }, false, ["verify"]);
    return true;
  } catch {
    return false;
  }
}

const imported = new Map();
async function verifySignature(b64key, signature, data) {
  if (!imported.has(b64key)) {
    imported.set(b64key, subtle.importKey("raw", fromB64(b64key), { name: "Ed25519" }, false, ["verify"]));
  }
  try {
    return await subtle.verify({ name: "Ed25519" }, await imported.get(b64key), signature, data);
  } catch {
    return false;
  }
}

/** RFC 9162 §2.1.3.1: the leaf ranges [low, high) of PATH(index, D[size]), deepest first. */
export function inclusionRanges(index, size) {
  const siblings = [];
  let start = 0, end = size;
  while (end - start > 1) {
    let k = 1;
    while (k * 2 < end - start) k *= 2;
    if (index < start + k) { siblings.push([start + k, end]); end = start + k; }
    else { siblings.push([start, start + k]); start += k; }
  }
  return siblings.reverse();
}

/** RFC 9162 §2.1.3.2, with arithmetic exact beyond 2^31. */
async function inclusion(index, size, leaf, proof, root) {
  if (index >= size) return false;
  let fn = index, sn = size - 1, r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(concat(Uint8Array.of(1), p, r));
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await sha256(concat(Uint8Array.of(1), r, p));
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  return sn === 0 && same(r, root);
}

/** The verifier key `<name>+<8 hex key id>+<base64(0x01 ‖ key)>` (C2SP signed-note). */
export async function parseLogKey(text) {
  // The base64 key material may itself hold "+": split at the first two only.
  const trimmed = text.trim();
  const first = trimmed.indexOf("+"), second = trimmed.indexOf("+", first + 1);
  if (first < 0 || second < 0) throw new Error("not a note verifier key <name>+<id>+<key>");
  const name = trimmed.slice(0, first), id = trimmed.slice(first + 1, second), material = trimmed.slice(second + 1);
  const raw = fromB64(material);
  if (raw.length !== 33 || raw[0] !== 1) throw new Error("not an Ed25519 note verifier key");
  const keyId = (await sha256(concat(bytes(name + "\n"), Uint8Array.of(1), raw.slice(1)))).slice(0, 4);
  if (hex(keyId) !== id) throw new Error("the verifier key's id does not match its name and key");
  let b64 = "";
  for (const b of raw.slice(1)) b64 += String.fromCharCode(b);
  return { name, keyId, publicKey: btoa(b64) };
}

class Report {
  constructor() { this.checks = []; this.counts = { ed25519: 0, sha256: 0, rfc9162: 0 }; }
  add(check, ok, detail, seq = null) { this.checks.push({ check, ok, detail, seq }); }
  get failures() { return this.checks.filter((c) => !c.ok); }
  get ok() { return this.checks.length > 0 && this.failures.length === 0; }
}

/**
 * Verify a passport (version 2, or version 1). Options: `logKey`, the log's verifier key
 * to trust (else the passport's own service key is used and the report says so).
 * Resolves to a report: `ok`, `checks` and `failures` ([{check, ok, detail, seq}]), `counts`.
 */
export async function verifyPassport(passport, options = {}) {
  const report = new Report();
  try {
    await check(passport, options, report);
  } catch (error) {
    report.add("document", false, String(error && error.message ? error.message : error));
  }
  return report;
}

async function check(passport, options, report) {
  if (!passport || (passport.format !== PASSPORT_V2 && passport.format !== PASSPORT_V1)) {
    throw new Error(`not a ${PASSPORT_V2} (or ${PASSPORT_V1}) document`);
  }
  const lot = passport.lot;
  const service = passport.service_key;

  // The service keys (PROTOCOL.md §19): the key announced at seq a signs from position a + 1,
  // entries by their seq and checkpoints by their size. The announcements are registry
  // entries, each checked below as signed by the key before it and proven in the log.
  const announcements = (passport.registry || []).filter((e) => e.kind === "service_key");
  const periods = [{ key: announcements.length ? announcements[0].body.previous_public_key : service, first: 0 }];
  for (const a of announcements) periods.push({ key: a.body.public_key, first: a.seq + 1 });
  const keyAt = (position) => periods.filter((p) => p.first <= position).pop().key;
  if (announcements.length) {
    const chained = announcements.every((a, i) => a.body.previous_public_key === periods[i].key)
      && new Set(periods.map((p) => p.key)).size === periods.length && periods.at(-1).key === service;
    report.add("service key history", chained,
      chained ? `${announcements.length} key rotation(s), each announced by the key before` : "the key announcements do not lead to the passport's service key");
  }
  let origin = null;
  if (options.logKey) {
    const trusted = await parseLogKey(options.logKey);
    const known = periods.some((p) => p.key === trusted.publicKey);
    report.add("service key", known,
      !known ? "the passport names another service key"
        : trusted.publicKey === service ? `the log's key, ${trusted.name}` : `the log's key, ${trusted.name}, handed over to the passport's through the log`);
    origin = trusted.name;
  } else {
    report.add("service key", true, "taken from the passport itself (no log key given)");
  }

  // The whole passport, signed by the service.
  const unsigned = Object.assign({}, passport);
  delete unsigned.signature;
  report.counts.ed25519++;
  report.add("passport signature", await verifySignature(service, fromB64(passport.signature), bytes(jcs(unsigned))),
    "the service signed every byte of this passport");

  // The checkpoint: a C2SP signed note by the service key in force at its size.
  const note = passport.log.checkpoint;
  const split = note.indexOf("\n\n");
  const text = note.slice(0, split + 1);
  const lines = text.split("\n");
  const size = Number(lines[1]), root = fromB64(lines[2]);
  const signer = keyAt(size);
  const keyId = (await sha256(concat(bytes(lines[0] + "\n"), Uint8Array.of(1), fromB64(signer)))).slice(0, 4);
  const signatures = note.slice(split + 2).trim().split("\n").map((line) => fromB64(line.split(" ").pop()));
  const signature = signatures.find((sig) => same(sig.slice(0, 4), keyId));
  report.counts.ed25519++;
  const noteOk = signature !== undefined && (await verifySignature(signer, signature.slice(4), bytes(text)))
    && (origin === null || lines[0] === origin);
  report.add("checkpoint", noteOk, `${lines[0]}, tree size ${size}`);

  const partnerKeys = new Map();
  async function entry(e, signer) {
    const body = bytes(jcs(e.body));
    const hash = hex(await sha256(body));
    report.counts.sha256++;
    const problems = [];
    if (hash !== e.hash) problems.push("hash");
    const receipt = jcs({ type: "goldtrail.receipt.v1", seq: e.seq, kind: e.kind, hash, recorded_at: e.recorded_at });
    if (!(await verifySignature(keyAt(e.seq), fromB64(e.receipt), bytes(receipt)))) problems.push("receipt");
    if (!(await verifySignature(signer, fromB64(e.signature), body))) problems.push("signature");
    report.counts.ed25519 += 2;
    const leaf = jcs({ type: "goldtrail.leaf.v1", seq: e.seq, kind: e.kind, hash, signature: e.signature, signer: e.signer, recorded_at: e.recorded_at });
    const leafHash = await sha256(concat(Uint8Array.of(0), bytes(leaf)));
    let proof;
    if (passport.format === PASSPORT_V2) {
      proof = inclusionRanges(e.seq, size).map(([low, high]) => passport.log.nodes[`${low}-${high}`]);
    } else {
      proof = passport.log.proofs[String(e.seq)];
    }
    report.counts.rfc9162++;
    if (!proof || proof.some((p) => typeof p !== "string") || !(await inclusion(e.seq, size, leafHash, proof.map(fromB64), root))) {
      problems.push("not in the log");
    }
    return { hash, problems };
  }

  // The registry: partners and their keys, signed by the service.
  const registry = passport.registry || [];
  for (const e of registry) {
    const { problems } = await entry(e, keyAt(e.seq));
    if (e.kind === "service_key") {
      const id = hex(await sha256(fromB64(e.body.public_key))).slice(0, 32);
      if (e.body.previous_public_key !== keyAt(e.seq) || e.body.key !== id) problems.push("not a handover from the key in force");
    }
    if (e.body.type === "goldtrail.key.v1" && !problems.length) {
      partnerKeys.set(e.body.key, { key: e.body.public_key, partner: e.body.partner, from: e.seq, until: Infinity });
    }
    if (e.body.type === "goldtrail.key-revocation.v1" && !problems.length && partnerKeys.has(e.body.key)) {
      const known = partnerKeys.get(e.body.key);
      known.until = Math.min(known.until, e.seq);
    }
    report.add(`registry ${e.kind}`, !problems.length, problems.join(", ") || "signed by the service", e.seq);
  }

  async function signed(e) {
    const known = partnerKeys.get(e.body.key);
    if (!known || known.partner !== e.body.partner || !(known.from < e.seq && e.seq < known.until)) {
      const result = await entry(e, keyAt(e.seq));
      return { hash: result.hash, problems: ["key", ...result.problems.filter((p) => p !== "signature")] };
    }
    return entry(e, known.key);
  }

  if (passport.format === PASSPORT_V2) {
    await checkV2(passport, lot, entry, signed, report, keyAt);
  } else {
    await checkV1(passport, lot, signed, report);
  }
}

async function checkV2(passport, lot, entry, signed, report, keyAt) {
  // The lot's own chain: each entry the next link of the lot.
  let head = null;
  const chain = passport.chain;
  for (const [position, e] of chain.entries()) {
    const { hash, problems } = await signed(e);
    const prev = e.kind === "event"
      ? e.body.prev
      : ((e.body.inputs || []).find((i) => i.lot === lot) || { prev: null }).prev;
    const names = e.kind === "event" ? e.body.lot === lot
      : (e.body.inputs || []).some((i) => i.lot === lot) || (e.body.outputs || []).some((o) => o.lot === lot);
    if (!names) problems.push(`does not name ${lot}`);
    if ((prev ?? null) !== head) problems.push("link");
    head = hash;
    report.add(`link #${position}`, !problems.length, problems.join(", ") || `${e.body.action}: hash, link, key, signature, receipt`, e.seq);
  }
  report.add("head", head === passport.summary.head && chain.length === passport.summary.length,
    `the chain of ${chain.length} links ends at the head the passport states`);

  // The inputs' logged summaries, at the heads the transformation that made the lot names.
  const first = chain[0];
  const named = first && first.kind === "transformation" ? first.body.inputs.map((i) => [i.lot, i.prev]) : [];
  const given = (passport.inputs || []).map((e) => [e.body.lot, e.body.head]);
  report.add("inputs", JSON.stringify(named) === JSON.stringify(given),
    `${named.length} inputs, each with its summary at the head the transformation names`);
  for (const e of passport.inputs || []) {
    const { problems } = await entry(e, keyAt(e.seq));
    if (e.kind !== "summary") problems.push("not a summary");
    report.add("input summary", !problems.length, problems.join(", ") || `summary of ${e.body.lot}, signed by the service`, e.seq);
  }
  if (passport.lot_summary) {
    const e = passport.lot_summary;
    const { problems } = await entry(e, keyAt(e.seq));
    const at = chain.findIndex((c) => c.hash === e.body.head);
    if (e.kind !== "summary" || e.body.lot !== lot || at < 0 || e.body.length !== at + 1) problems.push("not a summary of this chain");
    report.add("lot summary", !problems.length, problems.join(", ") || `the lot's summary at link #${at}`, e.seq);
  }
}

async function checkV1(passport, lot, signed, report) {
  const heads = new Map();
  const lots = new Set(passport.lots);
  for (const e of passport.entries) {
    const { hash, problems } = await signed(e);
    const links = e.kind === "event"
      ? [[e.body.lot, e.body.prev]]
      : e.body.inputs.map((i) => [i.lot, i.prev]).concat(e.body.outputs.map((o) => [o.lot, null]));
    for (const [name, prev] of links) {
      if (!lots.has(name)) continue;
      if ((heads.get(name) ?? null) !== (prev ?? null)) problems.push(`link of ${name}`);
      heads.set(name, hash);
    }
    report.add(`entry ${e.body.action}`, !problems.length, problems.join(", ") || "hash, link, key, signature, receipt", e.seq);
  }
  report.add("head", heads.get(lot) === passport.summary.head, "the lot's chain ends at the head the passport states");
}

/**
 * Verify deeper: each input's own passport (fetched with `fetchPassport(lot)`) verifies, and
 * the summary this passport used lies on the input's verified chain, right before the
 * transformation that made this lot. Resolves to [{lot, ok, detail}].
 */
export async function verifyInputs(passport, fetchPassport, options = {}) {
  const results = [];
  const made = passport.chain && passport.chain[0];
  for (const summary of passport.inputs || []) {
    const input = summary.body.lot;
    try {
      const upstream = await fetchPassport(input);
      const report = await verifyPassport(upstream, options);
      const chain = upstream.chain || [];
      const at = chain.findIndex((e) => e.hash === summary.body.head);
      const followed = at >= 0 && chain[at + 1] && made && chain[at + 1].hash === made.hash;
      const ok = report.ok && Boolean(followed);
      results.push({
        lot: input,
        ok,
        detail: !report.ok ? report.failures.map((f) => `${f.check}: ${f.detail}`).join("; ")
          : followed ? `its own passport verifies; the summary used is at link #${at}, before the transformation`
          : "the summary used is not on its chain before the transformation",
      });
    } catch (error) {
      results.push({ lot: input, ok: false, detail: String(error && error.message ? error.message : error) });
    }
  }
  return results;
}
