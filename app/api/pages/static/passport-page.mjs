// The passport page's own check: the embedded passport, verified in the browser with
// goldtrail-verify.mjs (the same module holders run in Node), then, on request, each
// input's own passport ("verify deeper").
import { ed25519Supported, verifyInputs, verifyPassport } from "./goldtrail-verify.mjs";

const box = document.getElementById("browser-check");
const words = JSON.parse(document.getElementById("words").textContent);
const passport = JSON.parse(document.getElementById("passport").textContent);

function show(target, state, title, items) {
  target.dataset.state = state;
  target.className = "status " + (state === "verified" ? "ok" : state === "failed" ? "bad" : "unknown");
  target.textContent = title;
  if (items && items.length) {
    const list = document.createElement("ul");
    list.className = "checks";
    for (const item of items) {
      const li = document.createElement("li");
      li.textContent = item;
      list.appendChild(li);
    }
    target.appendChild(list);
  }
}

async function fetchPassport(lot) {
  const response = await fetch(`/v1/lots/${encodeURIComponent(lot)}/passport`);
  if (!response.ok) throw new Error(`${lot}: HTTP ${response.status}`);
  return response.json();
}

async function main() {
  if (!(await ed25519Supported())) {
    show(box, "unsupported", words.browser_cannot);
    return;
  }
  const report = await verifyPassport(passport);
  const counts = `${report.counts.ed25519} Ed25519 · ${report.counts.sha256} SHA-256 · ${report.counts.rfc9162} RFC 9162`;
  if (!report.ok) {
    show(box, "failed", words.browser_bad, report.failures.slice(0, 8).map((f) => `${f.check}: ${f.detail}`));
    return;
  }
  show(box, "verified", words.browser_ok + " " + counts);
  const deeper = document.getElementById("verify-deeper");
  if (!deeper || !(passport.inputs || []).length) return;
  deeper.hidden = false;
  deeper.addEventListener("click", async () => {
    deeper.disabled = true;
    const target = document.getElementById("deeper-check");
    show(target, "checking", words.deeper_checking);
    const results = await verifyInputs(passport, fetchPassport);
    const ok = results.every((r) => r.ok);
    show(target, ok ? "verified" : "failed", ok ? words.deeper_ok : words.deeper_bad,
      results.map((r) => `${r.lot}: ${r.detail}`));
  });
}

main().catch((error) => show(box, "failed", words.browser_bad, [String(error)]));
