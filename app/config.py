"""Settings from the environment (prefix ``GOLDTRAIL_``), validated at start-up."""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["EXAMPLE_LOG_ORIGIN", "Settings"]

# Top-level names that never reach the internet (RFC 2606, RFC 6761, RFC 6762, RFC 8375).
_LOCAL_SUFFIXES = (
    "localhost",
    "local",
    "internal",
    "example",
    "test",
    "invalid",
    "localdomain",
    "home.arpa",
    "lan",
)


def _not_public(host: str) -> str | None:
    """Why ``host`` is not a name or address on the internet, or None if it is."""
    name = host.strip("[]").rstrip(".").lower()
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is not None:
        return None if address.is_global else "is not a public address"
    if "." not in name:
        return "is not a domain name"
    if any(name == s or name.endswith("." + s) for s in _LOCAL_SUFFIXES):
        return "is a local or reserved name"
    return None


EXAMPLE_LOG_ORIGIN = "goldtrail.example/log"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GOLDTRAIL_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    service_key_file: Path | None = None
    admin_token: str | None = Field(default=None, min_length=32)
    admin_token_file: Path | None = None
    tag_master_key_file: Path | None = None

    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_transformation_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_batch_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    body_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="A request whose body stalls this long between chunks is answered 408.",
    )
    body_deadline_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="A request whose whole body has not arrived this long after its first "
        "read is answered 408, however steadily it trickles.",
    )
    clock_skew_seconds: int = Field(default=300, ge=0)
    assay_tolerance: Decimal = Field(default=Decimal("0.001"), ge=0, le=Decimal("0.05"))
    threads: int = Field(default=8, ge=1, le=64)
    log_origin: str = Field(
        default=EXAMPLE_LOG_ORIGIN,
        pattern=r"^[^\s+]+$",
        description="The transparency log's origin line and checkpoint key name.",
    )
    checkpoint_interval_seconds: float = Field(default=1.0, ge=0)
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="Where buyers reach the passport pages; QR codes and certificates link here.",
    )
    issuer_did: str | None = Field(
        default=None,
        pattern=r"^did:web:[A-Za-z0-9.%:-]+$",
        description="Issue credentials as this did:web (else a did:key of the service key).",
    )
    cjk_font: Path | None = Field(
        default=None,
        description="A font with Chinese glyphs for the certificate (else Noto Sans CJK).",
    )
    log_format: Literal["json", "text"] | None = Field(
        default=None,
        description="json: one JSON object per line (the default); text in development.",
    )
    webhook_retry_base_seconds: float = Field(
        default=1.0,
        gt=0,
        description="A failed webhook delivery is retried after this, doubling each time.",
    )
    webhook_retry_max_seconds: float = Field(default=300.0, gt=0)
    webhook_poll_seconds: float = Field(
        default=0.5, gt=0, description="How often workers look for feed items to deliver."
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_allow_private_networks: bool | None = Field(
        default=None,
        description="Whether webhooks may reach addresses that are not public (loopback, "
        "private, link-local…). Unset: allowed outside production only.",
    )
    allow_local_names: bool = Field(
        default=False,
        description="In production, allow a log origin and public URL that are not on the "
        "internet (localhost, .local, .internal, private addresses, plain http).",
    )
    database_inline: bool = Field(
        default=True,
        description=(
            "Run the ingest routes' database work on the event loop (the default: thread hops "
            "and GIL contention cost more than the waits, docs/BENCHMARKS.md)."
        ),
    )

    @model_validator(mode="after")
    def _defaults_and_production_rules(self) -> Settings:
        if self.environment == "production" and not (self.admin_token or self.admin_token_file):
            raise ValueError(
                "in production set GOLDTRAIL_ADMIN_TOKEN or GOLDTRAIL_ADMIN_TOKEN_FILE; "
                "no admin token is generated"
            )
        if self.environment == "production":
            self._production_rules()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'goldtrail.db'}"
        if self.service_key_file is None:
            self.service_key_file = self.data_dir / "service.key"
        if self.admin_token_file is None:
            self.admin_token_file = self.data_dir / "admin.token"
        if self.tag_master_key_file is None:
            self.tag_master_key_file = self.data_dir / "tag_master.key"
        return self

    def _production_rules(self) -> None:
        """A production log must be named for its operator, and its QR codes must reach it:
        the defaults are for a laptop and would be signed into every checkpoint and card. A
        name or address that is not on the internet is refused too, unless
        ``GOLDTRAIL_ALLOW_LOCAL_NAMES`` says the deployment is deliberately private."""
        given = self.model_fields_set
        if self.log_origin == EXAMPLE_LOG_ORIGIN:
            raise ValueError(
                "in production set GOLDTRAIL_LOG_ORIGIN to your log's name (e.g. "
                "gold.example.org/log); the example origin would be signed into every checkpoint"
            )
        if "public_base_url" not in given or "127.0.0.1" in self.public_base_url:
            raise ValueError(
                "in production set GOLDTRAIL_PUBLIC_BASE_URL to the address buyers reach "
                "(QR codes and certificates point there)"
            )
        if self.allow_local_names:
            return
        origin_host = self.log_origin.split("/", 1)[0]
        why = _not_public(origin_host)
        if why is not None:
            raise ValueError(
                f"in production GOLDTRAIL_LOG_ORIGIN must name a host on the internet: "
                f"{origin_host} {why} (GOLDTRAIL_ALLOW_LOCAL_NAMES=true allows it)"
            )
        url = urlsplit(self.public_base_url)
        why = "is not https" if url.scheme != "https" else _not_public(url.hostname or "")
        if why is not None:
            raise ValueError(
                f"in production GOLDTRAIL_PUBLIC_BASE_URL must be an https address buyers can "
                f"reach: {self.public_base_url} {why} (GOLDTRAIL_ALLOW_LOCAL_NAMES=true allows it)"
            )

    @property
    def log_style(self) -> Literal["json", "text"]:
        if self.log_format is not None:
            return self.log_format
        return "text" if self.environment == "development" else "json"

    def body_limit(self, path: str) -> int:
        """The largest body a route takes (transformations and batches carry more)."""
        if path == "/v1/batch":
            return self.max_batch_bytes
        if path == "/v1/transformations":
            return self.max_transformation_bytes
        return self.max_body_bytes

    @property
    def service_key_path(self) -> Path:
        assert self.service_key_file is not None
        return self.service_key_file

    @property
    def admin_token_path(self) -> Path:
        assert self.admin_token_file is not None
        return self.admin_token_file

    @property
    def webhooks_may_reach_private_networks(self) -> bool:
        if self.webhook_allow_private_networks is not None:
            return self.webhook_allow_private_networks
        return self.environment != "production"

    @property
    def tag_master_key_path(self) -> Path:
        """The NFC tags' master key (PROTOCOL.md §21.1): 16 bytes, in the key store."""
        assert self.tag_master_key_file is not None
        return self.tag_master_key_file
