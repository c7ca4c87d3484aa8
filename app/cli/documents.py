"""A partner's and a verifier's commands: keys, signing, verifying documents, audit and monitor."""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from app.cli.common import (
    DEFAULT_URL,
    DOCUMENT_LIMITS,
    UrlOption,
    app,
    console,
    errors,
    fail,
    read_json,
    write_secret,
)
from app.config import Settings
from app.ledger.canonical import parse_strict
from app.ledger.documents.credentials import verify_credential
from app.ledger.documents.export import EXPORT_FORMAT, verify_lot_export
from app.ledger.documents.genealogy import GENEALOGY_FORMAT, verify_genealogy
from app.ledger.documents.passport import PASSPORT_FORMAT, PASSPORT_V2, verify_passport
from app.ledger.documents.receipts import RECEIPT_FORMAT, verify_receipt
from app.ledger.errors import InvalidSignature, LedgerError
from app.ledger.events import EVENT_TYPE, Event
from app.ledger.keys import PublicKey, SigningKey, b64encode
from app.ledger.log.note import NoteVerifier, open_checkpoint
from app.ledger.provenance.transformations import TRANSFORMATION_TYPE, Transformation
from app.ledger.report import Check, Report


@app.command()
def keygen(
    out: Annotated[Path, typer.Argument(help="Where to write the private key (PEM, mode 0600).")],
) -> None:
    """Create an Ed25519 key pair for a partner; prints the public key to register."""
    if out.exists():
        raise fail(f"{out} exists; refusing to overwrite a key")
    key = SigningKey.generate()
    write_secret(out, key.to_pem())
    console.print_json(data={"key_id": key.public.key_id, "public_key": key.public.b64})


@app.command("service-key")
def service_key_command(url: UrlOption = DEFAULT_URL) -> None:
    """Print the service's public key (base64) as the server states it.

    Pin it once from a channel you trust (``make run`` prints it at start-up).
    """
    try:
        response = httpx.get(f"{url.rstrip('/')}/v1/service/key", timeout=10)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise fail(f"{url}: {exc}") from exc
    sys.stdout.write(response.json()["public_key"] + "\n")


def _lot_head(url: str, lot: str) -> str | None:
    response = httpx.get(f"{url}/v1/lots/{lot}", timeout=10)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    head: str = response.json()["head"]
    return head


@app.command()
def sign(
    event_file: Annotated[
        Path, typer.Argument(help="JSON event; type, key and prev are filled in.")
    ],
    key: Annotated[Path, typer.Option(help="The partner's private key (PEM).")],
    prev: Annotated[
        str | None, typer.Option(help="The lot's head hash, or 'null' for a new lot.")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            envvar="GOLDTRAIL_URL",
            help="Ask this server for the lot's head when neither --prev nor the file gives it.",
        ),
    ] = None,
) -> None:
    """Sign an event or a transformation with a partner key and print the envelope to POST.

    A file with ``outputs`` is a transformation: each input's ``prev`` is asked
    of --url unless given.
    """
    event = read_json(event_file)
    if not isinstance(event, dict):
        raise fail("the event file must hold a JSON object")
    signing_key = SigningKey.load(key)
    if "outputs" in event:
        _sign_transformation(event, signing_key, url)
        return
    event.setdefault("type", EVENT_TYPE)
    event.setdefault("data", {})
    event["key"] = signing_key.public.key_id
    if prev is not None:
        event["prev"] = None if prev == "null" else prev
    elif "prev" not in event:
        if url is None:
            raise fail("give --prev HASH (or --prev null), or --url to ask for the lot head")
        event["prev"] = _lot_head(url.rstrip("/"), str(event.get("lot")))
    try:
        parsed = Event.from_json(event)
    except LedgerError as exc:
        raise fail(str(exc)) from exc
    envelope = {"event": event, "signature": b64encode(signing_key.sign(parsed.canonical))}
    sys.stdout.write(json.dumps(envelope, ensure_ascii=False, indent=1) + "\n")


def _sign_transformation(body: dict[str, Any], signing_key: SigningKey, url: str | None) -> None:
    body.setdefault("type", TRANSFORMATION_TYPE)
    body.setdefault("data", {})
    body.setdefault("inputs", [])
    body["key"] = signing_key.public.key_id
    for item in body["inputs"]:
        if isinstance(item, dict) and "prev" not in item:
            if url is None:
                raise fail("give each input its prev, or --url to ask for the lot heads")
            item["prev"] = _lot_head(url.rstrip("/"), str(item.get("lot")))
    try:
        parsed = Transformation.from_json(body)
    except LedgerError as exc:
        raise fail(str(exc)) from exc
    envelope = {"transformation": body, "signature": b64encode(signing_key.sign(parsed.canonical))}
    sys.stdout.write(json.dumps(envelope, ensure_ascii=False, indent=1) + "\n")


def _print_report(report: Report, *, as_json: bool, what: str) -> None:
    if as_json:
        console.print_json(data=report.to_json())
    else:
        for check in report.checks:
            mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
            where = f" (seq {check.seq})" if check.seq is not None else ""
            console.print(f"{mark} {check.check}{where}: {check.detail}", highlight=False)
        if report.ok:
            verdict = f"[green]{what} verified[/green]"
        elif report.pending:
            verdict = f"[yellow]{what} not yet in a checkpoint, fetch again[/yellow]"
        else:
            verdict = f"[red]{what} BROKEN[/red]"
        console.print(f"{verdict}: {len(report.checks)} checks, {len(report.failures)} failed")
    if not report.ok:
        raise typer.Exit(code=3 if report.pending else 1)


def _print_metrics(metrics: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"Green metrics of {metrics.get('lot')} (recomputed)", show_header=False)
    for name, value in metrics.items():
        if isinstance(value, dict):
            shown = ", ".join(f"{k} {v}" for k, v in value.items()) or "—"
        elif isinstance(value, list):
            shown = " → ".join(str(v) for v in value)
        else:
            shown = str(value)
        table.add_row(name, shown)
    console.print(table)


def _verify_checkpoint(text: str, log_key: NoteVerifier) -> Report:
    try:
        checkpoint = open_checkpoint(text, log_key)
    except InvalidSignature as exc:
        hint = (
            " (if the log rotated its service key since, this checkpoint is the new key's: "
            "`goldtrail monitor` follows the rotation from the log, GET /v1/log/keys lists "
            "every key)"
        )
        return Report([Check("checkpoint", False, f"{exc}{hint}")])
    except LedgerError as exc:
        return Report([Check("checkpoint", False, str(exc))])
    root = base64.b64encode(checkpoint.root).decode()
    return Report(
        [Check("checkpoint", True, f"{checkpoint.origin}, size {checkpoint.size}, root {root}")]
    )


@app.command()
def verify(
    file: Annotated[
        Path,
        typer.Argument(
            help="A passport, a lot or genealogy export, a log receipt, or a checkpoint (text)."
        ),
    ],
    service_key: Annotated[
        str | None,
        typer.Option(help="Pin the service's public key (base64); else the export's own is used."),
    ] = None,
    log_key: Annotated[
        str | None,
        typer.Option(
            envvar="GOLDTRAIL_LOG_KEY",
            help="The log's verifier key (<name>+<id>+<key>); checks checkpoints and proofs.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Verify offline: exports, genealogies, passports, receipts, credentials, checkpoints.

    Exits 1 if anything is broken, 3 if the document only holds entries newer than
    its checkpoint (not broken: fetch it again).
    """
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from exc
    try:
        verifier = None if log_key is None else NoteVerifier.parse(log_key)
        pinned = None if service_key is None else PublicKey.from_b64(service_key)
        if not raw.lstrip().startswith(b"{"):
            if verifier is None:
                raise fail("a checkpoint is verified with --log-key")
            _print_report(
                _verify_checkpoint(raw.decode("utf-8"), verifier),
                as_json=as_json,
                what="checkpoint",
            )
            return
        doc = parse_strict(raw, limits=DOCUMENT_LIMITS)
        kind = doc.get("format") if isinstance(doc, dict) else None
        if kind == RECEIPT_FORMAT:
            if verifier is None:
                raise fail("a receipt is verified with --log-key")
            report = verify_receipt(doc, log_key=verifier)
            what = "receipt"
        elif kind in (PASSPORT_FORMAT, PASSPORT_V2):
            if verifier is None:
                raise fail("a passport is verified with --log-key")
            report, computed = verify_passport(doc, log_key=verifier, service_key=pinned)
            what = "passport"
            if computed is not None and not as_json:
                _print_metrics(computed)
        elif _is_credential(doc):
            if pinned is None and verifier is None:
                raise fail(
                    "a credential is verified with the issuer's key: --service-key (base64), "
                    "or --log-key (the key in force is the log's)"
                )
            key = pinned or (verifier.public if verifier is not None else None)
            report = verify_credential(doc, public_key=key)
            what = "credential"
        elif kind == GENEALOGY_FORMAT:
            report, computed = verify_genealogy(doc, service_key=pinned, log_key=verifier)
            what = "genealogy and metrics"
            if computed is not None and not as_json:
                _print_metrics(computed)
        elif kind is None or kind == EXPORT_FORMAT:
            report = verify_lot_export(doc, service_key=pinned, log_key=verifier)
            what = "chain"
        else:
            raise fail(
                f"{file} is a {kind} document, which goldtrail verify does not know; it verifies "
                "lot exports, genealogy exports, passports, receipts, credentials and checkpoints"
            )
    except LedgerError as exc:
        raise fail(str(exc)) from exc
    _print_report(report, as_json=as_json, what=what)


def _is_credential(doc: object) -> bool:
    return (
        isinstance(doc, dict)
        and "VerifiableCredential" in (doc.get("type") or [])
        and isinstance(doc.get("proof"), dict)
    )


@app.command()
def audit(
    report_file: Annotated[
        Path | None, typer.Option("--report", help="Write the full report as JSON here.")
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Processes that verify signatures ahead (0: none).")
    ] = os.cpu_count() or 1,
) -> None:
    """Audit the whole ledger in the configured database: every entry, node and checkpoint.

    Streams, so memory stays flat however long the log; exits 1 on any failure.
    """
    from rich.progress import Progress

    from app.db import make_engine
    from app.keystore import load_or_create_secrets
    from app.services import audit as auditing

    settings = Settings()
    service_key = load_or_create_secrets(settings, create=False).service_key.public
    engine = make_engine(settings.database_url)
    with Progress(console=errors, transient=True, disable=not errors.is_terminal) as bar:
        task = bar.add_task("auditing", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = auditing.run(
            engine,
            service_key=service_key,
            origin=settings.log_origin,
            progress=progress,
            workers=workers,
        )
    engine.dispose()
    if report_file is not None:
        report_file.write_text(json.dumps(result.to_json(), indent=1), encoding="utf-8")
    console.print(result.summary(), highlight=False)
    if not result.ok:
        raise typer.Exit(code=1)


@app.command()
def monitor(
    state: Annotated[Path, typer.Option(help="Where the last good checkpoint is kept.")],
    log_key: Annotated[
        str, typer.Option(envvar="GOLDTRAIL_LOG_KEY", help="The log's verifier key.")
    ],
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Check the log never forks or shrinks: verify the latest checkpoint and its
    consistency with the last one kept, following service key rotations the log
    announces. Exits 1 and keeps the old state if not.
    """
    from app.monitor import MonitorAlarm, observe

    trusted = NoteVerifier.parse(log_key)
    kept = state.read_text(encoding="utf-8") if state.exists() else None
    try:
        with httpx.Client(base_url=url.rstrip("/"), timeout=30) as client:
            seen = observe(client, trusted, kept)
    except MonitorAlarm as exc:
        console.print(f"[red]✗ {exc}[/red]", highlight=False)
        raise typer.Exit(code=1) from exc
    for line in seen.followed:
        console.print(f"✓ {line}", highlight=False)
    latest = seen.latest
    signer = seen.history.key_at(latest.size).key_id
    console.print(
        f"✓ checkpoint {latest.origin} size {latest.size} is signed by the log key {signer}",
        highlight=False,
    )
    if kept is not None:
        kept_size = seen.history.open_checkpoint(kept, trusted.name).size
        console.print(f"✓ size {latest.size} is consistent with the kept size {kept_size}")
    state.write_text(seen.note, encoding="utf-8")
