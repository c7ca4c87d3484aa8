"""The ``goldtrail`` command: serve, db, keygen, sign, verify and admin."""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from app.config import Settings
from app.ledger.canonical import JsonLimits, parse_strict
from app.ledger.errors import InvalidSignature, LedgerError
from app.ledger.events import EVENT_TYPE, Event
from app.ledger.genealogy import GENEALOGY_FORMAT, verify_genealogy
from app.ledger.keys import PublicKey, SigningKey, b64encode
from app.ledger.note import NoteVerifier, open_checkpoint
from app.ledger.passport import PASSPORT_FORMAT, PASSPORT_V2, verify_passport
from app.ledger.receipts import RECEIPT_FORMAT, verify_receipt
from app.ledger.report import Check, Report
from app.ledger.transformations import TRANSFORMATION_TYPE, Transformation
from app.ledger.verify import verify_lot_export

# An export holds one list item per entry and one proof per entry: far beyond the
# limits on a single posted event, but still bounded in depth.
DOCUMENT_LIMITS = JsonLimits(max_depth=12, max_string=1 << 16, max_list=10**7, max_keys=10**7)

app = typer.Typer(help="Goldtrail: green ID cards for gold.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
admin_app = typer.Typer(
    help="Administration through the API, with the admin token.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"goldtrail {version('goldtrail')}")
        raise typer.Exit()


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Goldtrail: green ID cards for gold."""


console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

DEFAULT_URL = "http://127.0.0.1:8000"
UrlOption = Annotated[str, typer.Option(envvar="GOLDTRAIL_URL", help="The API's base URL.")]


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Create secrets on first start, apply migrations, then serve the API."""
    import uvicorn

    from app.keystore import load_or_create_secrets
    from app.migrate import upgrade

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secrets = load_or_create_secrets(settings)
    for path in secrets.created:
        console.print(f"created [bold]{path}[/bold]")
    console.print(
        f"service key: {secrets.service_key.public.b64} (id {secrets.service_key.public.key_id})"
    )
    log_key = NoteVerifier.of(settings.log_origin, secrets.service_key.public)
    console.print(f"log verifier key: {log_key}")
    if settings.admin_token is None:
        console.print(f"admin token: in [bold]{settings.admin_token_path}[/bold]")
    upgrade(settings.database_url)
    console.print(f"database: {settings.database_url} (migrated)")
    _prepare_metrics_directory(settings.data_dir)
    shown = f"[{host}]" if ":" in host else host
    console.print(
        f"serving on [bold]http://{shown}:{port}[/bold] ({workers} worker(s); Ctrl-C stops)"
    )
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,  # each request is logged once, as JSON, by the app
    )


def _prepare_metrics_directory(data_dir: Path) -> None:
    """Prometheus's multi-process mode: every worker writes its samples under one empty
    directory, named before any worker starts (PROMETHEUS_MULTIPROC_DIR)."""
    folder = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or data_dir / "prometheus")
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from app.migrate import upgrade

    settings = Settings()
    if settings.database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url, revision)
    console.print(f"migrated {settings.database_url} to {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Revert migrations down to REVISION ('base' drops everything)."""
    from app.migrate import downgrade

    settings = Settings()
    downgrade(settings.database_url, revision)
    console.print(f"downgraded {settings.database_url} to {revision}")


@app.command()
def keygen(
    out: Annotated[Path, typer.Argument(help="Where to write the private key (PEM, mode 0600).")],
) -> None:
    """Create an Ed25519 key pair for a partner; prints the public key to register."""
    if out.exists():
        raise _fail(f"{out} exists; refusing to overwrite a key")
    key = SigningKey.generate()
    _write_secret(out, key.to_pem())
    console.print_json(data={"key_id": key.public.key_id, "public_key": key.public.b64})


def _write_secret(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


@app.command("service-key")
def service_key_command(url: UrlOption = DEFAULT_URL) -> None:
    """Print the service's public key (base64) as the server states it.

    Pin it once from a channel you trust (``make run`` prints it at start-up).
    """
    try:
        response = httpx.get(f"{url.rstrip('/')}/v1/service/key", timeout=10)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise _fail(f"{url}: {exc}") from exc
    sys.stdout.write(response.json()["public_key"] + "\n")


def _read_json(path: Path) -> Any:
    try:
        return parse_strict(path.read_bytes())
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}") from exc
    except LedgerError as exc:
        raise _fail(f"{path}: {exc}") from exc


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
    event = _read_json(event_file)
    if not isinstance(event, dict):
        raise _fail("the event file must hold a JSON object")
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
            raise _fail("give --prev HASH (or --prev null), or --url to ask for the lot head")
        event["prev"] = _lot_head(url.rstrip("/"), str(event.get("lot")))
    try:
        parsed = Event.from_json(event)
    except LedgerError as exc:
        raise _fail(str(exc)) from exc
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
                raise _fail("give each input its prev, or --url to ask for the lot heads")
            item["prev"] = _lot_head(url.rstrip("/"), str(item.get("lot")))
    try:
        parsed = Transformation.from_json(body)
    except LedgerError as exc:
        raise _fail(str(exc)) from exc
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
    """Verify offline: hashes, links, signatures, keys, receipts, log proofs.

    Exits 1 if anything is broken, 3 if the document only holds entries newer than
    its checkpoint (not broken: fetch it again).
    """
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror}") from exc
    try:
        verifier = None if log_key is None else NoteVerifier.parse(log_key)
        pinned = None if service_key is None else PublicKey.from_b64(service_key)
        if not raw.lstrip().startswith(b"{"):
            if verifier is None:
                raise _fail("a checkpoint is verified with --log-key")
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
                raise _fail("a receipt is verified with --log-key")
            report = verify_receipt(doc, log_key=verifier)
            what = "receipt"
        elif kind in (PASSPORT_FORMAT, PASSPORT_V2):
            if verifier is None:
                raise _fail("a passport is verified with --log-key")
            report, computed = verify_passport(doc, log_key=verifier, service_key=pinned)
            what = "passport"
            if computed is not None and not as_json:
                _print_metrics(computed)
        elif kind == GENEALOGY_FORMAT:
            report, computed = verify_genealogy(doc, service_key=pinned, log_key=verifier)
            what = "genealogy and metrics"
            if computed is not None and not as_json:
                _print_metrics(computed)
        else:
            report = verify_lot_export(doc, service_key=pinned, log_key=verifier)
            what = "chain"
    except LedgerError as exc:
        raise _fail(str(exc)) from exc
    _print_report(report, as_json=as_json, what=what)


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


def _admin_token(token: str | None) -> str:
    if token:
        return token
    settings = Settings()
    if settings.admin_token:
        return settings.admin_token
    try:
        return settings.admin_token_path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise _fail(f"no admin token: set GOLDTRAIL_ADMIN_TOKEN or create {exc.filename}") from exc


SaveApiKeyOption = Annotated[
    Path | None, typer.Option(help="Also write the API key to this file (mode 0600).")
]
TokenOption = Annotated[
    str | None,
    typer.Option(envvar="GOLDTRAIL_ADMIN_TOKEN", help="Admin token (else the token file)."),
]


def _call(method: str, url: str, token: str, body: dict[str, Any] | None = None) -> Any:
    try:
        response = httpx.request(
            method, url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
    except httpx.HTTPError as exc:
        raise _fail(f"{url}: {exc}") from exc
    console.print_json(data=response.json())
    if response.is_error:
        raise typer.Exit(code=1)
    return response.json()


@app.command("backup")
def backup_command(
    file: Annotated[Path, typer.Argument(help="Where to write the snapshot (must not exist).")],
) -> None:
    """Take a consistent snapshot of the database, while the service runs.

    SQLite: the online backup API. PostgreSQL: pg_dump (custom format).
    """
    from app.backup import BackupError, backup

    settings = Settings()
    try:
        backup(settings.database_url, file)
    except BackupError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"backed up {_shown_url(settings.database_url)} to {file}")


@app.command("restore")
def restore_command(
    file: Annotated[Path, typer.Argument(help="A snapshot made by goldtrail backup.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: the database's contents are replaced.")
    ] = False,
) -> None:
    """Replace the database with a snapshot. Stop the service first.

    Entries appended after the snapshot are gone: monitors that saw a later checkpoint
    will report the log as rolled back (docs/OPERATIONS.md says what to do).
    """
    from app.backup import BackupError, restore

    if not yes:
        raise _fail("restoring replaces the database's contents; add --yes to confirm")
    settings = Settings()
    try:
        restore(file, settings.database_url)
    except BackupError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"restored {file} into {_shown_url(settings.database_url)}")


def _shown_url(url: str) -> str:
    """The database URL without its password."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


@admin_app.command("rotate-service-key")
def rotate_service_key(
    new_key_file: Annotated[
        Path | None,
        typer.Option(help="The new key (PEM, as goldtrail keygen writes); else one is made."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: the rotation is logged for ever.")
    ] = False,
) -> None:
    """Rotate the service key: the log announces the new key, signed by the old one.

    Runs beside the service, on the configured database and key file: the new key
    signs from the next entry on, workers switch to it by themselves, and the old
    key is moved aside for you to take offline or destroy (docs/OPERATIONS.md).
    """
    from app.db import make_engine
    from app.keystore import install_staged_key, load_or_create_secrets, stage_key
    from app.services.context import LedgerContext
    from app.services.rotation import rotate

    if not yes:
        raise _fail("a rotation is logged for ever; add --yes to confirm")
    settings = Settings()
    try:
        old = load_or_create_secrets(settings, create=False).service_key
        new = SigningKey.load(new_key_file) if new_key_file else SigningKey.generate()
    except (OSError, LedgerError) as exc:
        raise _fail(str(exc)) from exc
    staged = stage_key(settings, new)
    engine = make_engine(settings.database_url)
    ctx = LedgerContext(engine=engine, settings=settings, service_key=old)
    try:
        rotation = rotate(ctx, new)
    except LedgerError as exc:
        staged.unlink(missing_ok=True)
        raise _fail(str(exc)) from exc
    finally:
        engine.dispose()
    retired = install_staged_key(settings, old.public.key_id)
    verifier = NoteVerifier.of(settings.log_origin, new.public)
    console.print(
        f"rotated the service key at seq {rotation.announcement.seq}: "
        f"{old.public.key_id} → {new.public.key_id}\n"
        f"handover checkpoint: size {rotation.handover.size}, signed by both keys\n"
        f"new log verifier key: {verifier}\n"
        f"the old key is in {retired}: take it offline or destroy it",
        highlight=False,
    )


@admin_app.command("partner-add")
def partner_add(
    partner_id: Annotated[str, typer.Option("--id", help="Partner id, e.g. obuasi-ridge.")],
    name: Annotated[str, typer.Option(help="Legal name.")],
    role: Annotated[list[str], typer.Option(help="A role; repeat for several.")],
    public_key: Annotated[
        list[str] | None, typer.Option(help="Ed25519 public key, base64; repeat for several.")
    ] = None,
    key_file: Annotated[
        list[Path] | None,
        typer.Option(help="Take the public key from this private key file; repeatable."),
    ] = None,
    country: Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-2.")] = None,
    save_api_key: SaveApiKeyOption = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Register a partner; prints its API key once."""
    keys = list(public_key or []) + [SigningKey.load(path).public.b64 for path in key_file or []]
    body = {"id": partner_id, "name": name, "roles": role, "country": country, "public_keys": keys}
    answer = _call("POST", f"{url.rstrip('/')}/v1/admin/partners", _admin_token(token), body)
    if save_api_key is not None:
        _write_secret(save_api_key, answer["api_key"].encode("ascii"))


@admin_app.command("key-add")
def key_add(
    partner: Annotated[str, typer.Option(help="Partner id.")],
    public_key: Annotated[str | None, typer.Option(help="Ed25519 public key, base64.")] = None,
    key_file: Annotated[
        Path | None, typer.Option(help="Take the public key from this private key file.")
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Register another key for a partner (give --public-key or --key-file)."""
    if key_file is not None:
        if public_key is not None:
            raise _fail("give --public-key or --key-file, not both")
        public_key = SigningKey.load(key_file).public.b64
    if public_key is None:
        raise _fail("give --public-key or --key-file")
    body = {"public_key": public_key}
    _call("POST", f"{url.rstrip('/')}/v1/admin/partners/{partner}/keys", _admin_token(token), body)


@admin_app.command("key-revoke")
def key_revoke(
    partner: Annotated[str, typer.Option(help="Partner id.")],
    key_id: Annotated[str, typer.Option(help="The key's id (32 hex).")],
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "unspecified",
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Revoke a partner's key. Events accepted before it stay valid."""
    target = f"{url.rstrip('/')}/v1/admin/partners/{partner}/keys/{key_id}/revoke"
    _call("POST", target, _admin_token(token), {"reason": reason})


@admin_app.command("api-key")
def api_key(
    partner: Annotated[str, typer.Option(help="Partner id.")],
    save_api_key: SaveApiKeyOption = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Issue a new API key for a partner; the old one stops working at once."""
    target = f"{url.rstrip('/')}/v1/admin/partners/{partner}/api-key"
    answer = _call("POST", target, _admin_token(token))
    if save_api_key is not None:
        if save_api_key.exists():
            save_api_key.unlink()
        _write_secret(save_api_key, answer["api_key"].encode("ascii"))


@admin_app.command("partners")
def partners(url: UrlOption = DEFAULT_URL, token: TokenOption = None) -> None:
    """List every partner: id, name, roles, country, where it was registered."""
    from rich.table import Table

    base, secret = url.rstrip("/"), _admin_token(token)
    table = Table("id", "name", "roles", "country", "registered at seq")
    after: str | None = None
    while True:
        params = {"limit": 500} | ({} if after is None else {"after": after})
        try:
            response = httpx.get(
                f"{base}/v1/partners",
                params=params,
                headers={"Authorization": f"Bearer {secret}"},
                timeout=30,
            )
        except httpx.HTTPError as exc:
            raise _fail(f"{base}: {exc}") from exc
        if response.is_error:
            raise _fail(f"{response.status_code}: {response.text}")
        page = response.json()
        for p in page["partners"]:
            table.add_row(
                p["id"],
                p["name"],
                ", ".join(p["roles"]),
                p["country"] or "—",
                str(p["registered_seq"]),
            )
        after = page["next_after"]
        if after is None:
            break
    console.print(table)


def main() -> None:
    from pydantic import ValidationError

    try:
        app()
    except ValidationError as exc:
        # A bad setting (GOLDTRAIL_*): one line per setting, not a traceback.
        for error in exc.errors():
            where = "_".join(str(part) for part in error["loc"]).upper()
            name = f"setting GOLDTRAIL_{where}" if where else "settings"
            errors.print(f"[red]error:[/red] {name}: {error['msg']}", highlight=False)
        raise SystemExit(2) from None
