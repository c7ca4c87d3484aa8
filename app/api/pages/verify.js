// Checks the passport embedded in this page, in the browser, trusting no server:
// RFC 8785 bytes and SHA-256 of every entry, Ed25519 signatures (WebCrypto) of
// partners, receipts and the whole passport, every chain link, every RFC 9162
// inclusion proof and the C2SP checkpoint signature (docs/PROTOCOL.md).
"use strict";
(async function () {
  const box = document.getElementById("browser-check");
  const words = JSON.parse(document.getElementById("words").textContent);
  const encoder = new TextEncoder();

  function show(state, title, items) {
    box.dataset.state = state;
    box.className = "status " + (state === "verified" ? "ok" : state === "failed" ? "bad" : "unknown");
    box.textContent = title;
    if (items && items.length) {
      const list = document.createElement("ul");
      list.className = "checks";
      for (const item of items) {
        const li = document.createElement("li");
        li.textContent = item;
        list.appendChild(li);
      }
      box.appendChild(list);
    }
  }

  // RFC 8785: ECMAScript number and string serialisation, members sorted by UTF-16 code units.
  function jcs(value) {
    if (value === null || typeof value !== "object") return JSON.stringify(value);
    if (Array.isArray(value)) return "[" + value.map(jcs).join(",") + "]";
    return "{" + Object.keys(value).sort().map((k) => JSON.stringify(k) + ":" + jcs(value[k])).join(",") + "}";
  }
  const bytes = (text) => encoder.encode(text);
  const b64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
  const sha256 = async (data) => new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

  const keys = new Map();
  async function importKey(b64key) {
    if (!keys.has(b64key)) {
      keys.set(b64key, crypto.subtle.importKey("raw", b64(b64key), { name: "Ed25519" }, false, ["verify"]));
    }
    return keys.get(b64key);
  }
  async function verify(b64key, signature, data) {
    return crypto.subtle.verify({ name: "Ed25519" }, await importKey(b64key), signature, data);
  }

  // RFC 9162 §2.1.3.2, with arithmetic that stays exact beyond 2^31.
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

  const passport = JSON.parse(document.getElementById("passport").textContent);
  const service = passport.service_key;
  const problems = [];
  let signatures = 0, hashes = 0, proofs = 0;

  try {
    await importKey(service);
  } catch (error) {
    show("unsupported", words.browser_cannot);
    return;
  }

  try {
    // The whole passport, signed by the service.
    const unsigned = Object.assign({}, passport);
    delete unsigned.signature;
    if (!(await verify(service, b64(passport.signature), bytes(jcs(unsigned))))) problems.push("passport signature");
    signatures++;

    // The checkpoint: a C2SP signed note by the service key for the log's origin.
    const note = passport.log.checkpoint;
    const [text, signatureLine] = note.split("\n\n");
    const lines = text.split("\n");
    const origin = lines[0], size = Number(lines[1]), root = b64(lines[2]);
    const signed = b64(signatureLine.trim().split(" ").pop());
    const keyId = (await sha256(concat(bytes(origin + "\n"), Uint8Array.of(1), b64(service)))).slice(0, 4);
    if (!same(signed.slice(0, 4), keyId)) problems.push("checkpoint key id");
    if (!(await verify(service, signed.slice(4), bytes(text + "\n")))) problems.push("checkpoint signature");
    signatures++;

    const partnerKeys = new Map();
    const heads = new Map();
    const lots = new Set(passport.lots);
    async function entry(e, registry) {
      const hash = hex(await sha256(bytes(jcs(e.body))));
      hashes++;
      if (hash !== e.hash) problems.push(`entry ${e.seq}: hash`);
      const receipt = jcs({ type: "goldtrail.receipt.v1", seq: e.seq, kind: e.kind, hash: hash, recorded_at: e.recorded_at });
      if (!(await verify(service, b64(e.receipt), bytes(receipt)))) problems.push(`entry ${e.seq}: receipt`);
      let signer = service;
      if (!registry) {
        const known = partnerKeys.get(e.body.key);
        if (!known || known.partner !== e.body.partner) { problems.push(`entry ${e.seq}: key`); return; }
        signer = known.key;
      }
      if (!(await verify(signer, b64(e.signature), bytes(jcs(e.body))))) problems.push(`entry ${e.seq}: signature`);
      signatures += 2;
      if (registry && e.body.type === "goldtrail.key.v1") partnerKeys.set(e.body.key, { key: e.body.public_key, partner: e.body.partner });
      if (!registry) {
        const links = e.kind === "event"
          ? [[e.body.lot, e.body.prev]]
          : e.body.inputs.map((i) => [i.lot, i.prev]).concat(e.body.outputs.map((o) => [o.lot, null]));
        for (const [lot, prev] of links) {
          if (!lots.has(lot)) continue;
          if ((heads.get(lot) || null) !== prev) problems.push(`entry ${e.seq}: link of ${lot}`);
          heads.set(lot, hash);
        }
      }
      const leaf = jcs({ type: "goldtrail.leaf.v1", seq: e.seq, kind: e.kind, hash: hash, signature: e.signature, signer: e.signer, recorded_at: e.recorded_at });
      const path = (passport.log.proofs[String(e.seq)] || []).map(b64);
      if (!(await inclusion(e.seq, size, await sha256(concat(Uint8Array.of(0), bytes(leaf))), path, root))) {
        problems.push(`entry ${e.seq}: not in the log`);
      }
      proofs++;
    }
    for (const e of passport.registry) await entry(e, true);
    for (const e of passport.entries) await entry(e, false);
    if (heads.get(passport.lot) !== passport.summary.head) problems.push("the lot's head");
  } catch (error) {
    problems.push(String(error && error.message ? error.message : error));
  }

  const counts = `${signatures} Ed25519 · ${hashes} SHA-256 · ${proofs} RFC 9162`;
  if (problems.length) show("failed", words.browser_bad, problems.slice(0, 8));
  else show("verified", words.browser_ok + " " + counts);
})();
