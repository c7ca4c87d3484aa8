"""Pydantic models at the HTTP edge: request bodies and response documents."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from app.domain.rules import LotState
from app.domain.vocabulary import ROLES
from app.ledger.provenance.balance import plain
from app.ledger.records import LedgerEntry
from app.models.repository import KeyRow, PartnerRow

__all__ = [
    "AcceptedOut",
    "ClaimIn",
    "EntryOut",
    "EventPage",
    "KeyCreate",
    "KeyOut",
    "KeyRevoke",
    "LotOut",
    "LotPage",
    "PartnerCreate",
    "PartnerCreated",
    "PartnerOut",
    "PartnerPage",
    "Problem",
    "TagIn",
    "VerifyOut",
]

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=False)

# Text shown to people (names, reasons): no control characters and no bidirectional
# controls (U+202A-U+202E, U+2066-U+2069, marks), which could make a name read as another.
DISPLAY_TEXT = r"^[^\x00-\x1f\x7f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+$"
# 32 bytes of Ed25519 public key in standard base64: 43 characters, the last holding
# four meaningful bits, and one "=".
PUBLIC_KEY_B64 = r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"
PublicKeyB64 = Annotated[
    str,
    Field(
        min_length=44,
        max_length=44,
        pattern=PUBLIC_KEY_B64,
        description="An Ed25519 public key: 32 bytes in standard base64",
        examples=["11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="],
    ),
]
Role = Annotated[str, Field(json_schema_extra={"enum": list(ROLES)})]


def _display_text(value: str) -> str:
    if not re.fullmatch(DISPLAY_TEXT, value):
        raise ValueError(
            "must not hold control characters or bidirectional controls (U+202A-U+202E, "
            "U+2066-U+2069, U+200E, U+200F, U+061C)"
        )
    return value


DisplayText = Annotated[
    str,
    Field(min_length=1, max_length=200, json_schema_extra={"pattern": DISPLAY_TEXT}),
    AfterValidator(_display_text),
]


class PartnerCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "ghana-gold-mine",
                    "name": "Ashanti Gold Fields (fictional)",
                    "roles": ["miner"],
                    "country": "GH",
                    "public_keys": ["11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="],
                }
            ]
        },
    )
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
    name: DisplayText
    roles: list[Role] = Field(min_length=1, max_length=9, json_schema_extra={"uniqueItems": True})
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    public_keys: list[PublicKeyB64] = Field(
        default_factory=list, max_length=16, json_schema_extra={"uniqueItems": True}
    )

    @field_validator("roles", "public_keys")
    @classmethod
    def _distinct(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError("lists the same item twice")
        return values


class KeyCreate(BaseModel):
    model_config = _STRICT
    public_key: PublicKeyB64


class KeyRevoke(BaseModel):
    model_config = _STRICT
    reason: DisplayText = "unspecified"


class WebhookIn(BaseModel):
    model_config = _STRICT
    url: str = Field(
        min_length=8,
        max_length=2048,
        pattern=r"^https?://\S+$",
        description="Where to POST deliveries (https in production)",
    )


class WebhookOut(BaseModel):
    url: str
    delivered_through: int = Field(description="The last feed item delivered")
    attempts: int = Field(description="Failed attempts since the last delivery")
    next_attempt_at: str | None = Field(description="When the next attempt is due, if retrying")


class PartnerOut(BaseModel):
    id: str
    name: str
    roles: list[str]
    country: str | None
    registered_seq: int

    @classmethod
    def of(cls, row: PartnerRow) -> PartnerOut:
        return cls(
            id=row.id,
            name=row.name,
            roles=sorted(row.roles),
            country=row.country,
            registered_seq=row.registered_seq,
        )


class KeyOut(BaseModel):
    key_id: str
    partner: str
    public_key: str
    registered_seq: int
    revoked_seq: int | None
    revoked_at: str | None

    @classmethod
    def of(cls, row: KeyRow) -> KeyOut:
        return cls(
            key_id=row.key_id,
            partner=row.partner_id,
            public_key=row.public_key,
            registered_seq=row.registered_seq,
            revoked_seq=row.revoked_seq,
            revoked_at=row.revoked_at,
        )


class PartnerCreated(BaseModel):
    partner: PartnerOut
    api_key: str = Field(description="Shown once; only its SHA-256 is stored.")
    keys: list[KeyOut]


class EntryOut(BaseModel):
    seq: int
    kind: str
    body: dict[str, Any]
    hash: str
    signature: str
    signer: str
    recorded_at: str
    receipt: str

    @classmethod
    def of(cls, entry: LedgerEntry) -> EntryOut:
        return cls(**entry.to_json())


class AcceptedOut(BaseModel):
    hash: str
    seq: int
    lot: str
    lot_seq: int
    recorded_at: str
    receipt: str = Field(description="Service signature over the receipt (PROTOCOL.md §5).")
    created: bool = Field(description="False when this exact event had already been accepted.")


class LotOut(BaseModel):
    id: str
    form: str | None
    mass_g: str | None = Field(description="Exact decimal, as a string.")
    fineness: str | None = Field(description="Parts per thousand, exact decimal, as a string.")
    fine_gold_g: str | None
    custodian: str
    pending_to: str | None
    stage: str
    last_action: str
    last_occurred_at: str
    head: str
    length: int
    closed: bool = Field(description="Sold, or all its gold was taken by a transformation.")
    consumed_by: str | None = Field(
        description="Hash of the transformation that took all of the lot's gold."
    )

    @classmethod
    def of(cls, state: LotState) -> LotOut:
        def text(value: object) -> str | None:
            return None if value is None else str(value)

        fine = state.fine_gold_g
        return cls(
            id=state.lot,
            form=state.form,
            mass_g=text(state.mass_g),
            fineness=text(state.fineness),
            fine_gold_g=None if fine is None else plain(fine),
            custodian=state.custodian,
            pending_to=state.pending_to,
            stage=state.stage,
            last_action=state.last_action,
            last_occurred_at=state.last_occurred_at,
            head=state.head,
            length=state.length,
            closed=state.closed,
            consumed_by=state.consumed_by,
        )


class TakenOut(BaseModel):
    lot: str
    taken_fine_g: str | None = Field(description="None for a deposit: it holds no stated gold.")
    remaining_fine_g: str | None
    closed: bool


class TransformedOut(BaseModel):
    hash: str
    seq: int
    action: str
    recorded_at: str
    receipt: str
    created: bool = Field(description="False when this exact transformation was already accepted.")
    inputs: list[TakenOut]
    outputs: list[LotOut]
    balance: dict[str, str] | None = Field(
        description="inputs_fine_g, outputs_fine_g, declared_loss_fine_g, difference_fine_g"
    )


class LotPage(BaseModel):
    lots: list[LotOut]
    next_after: str | None = Field(description="Pass as ?after= for the next page; null at the end")


class PartnerPage(BaseModel):
    partners: list[PartnerOut]
    next_after: str | None = Field(description="Pass as ?after= for the next page; null at the end")


class EventPage(BaseModel):
    lot: str
    events: list[EntryOut]
    next_after: int | None = Field(
        description="Pass as ?after= for the next page; null at the end."
    )


class CheckOut(BaseModel):
    check: str
    ok: bool
    detail: str
    lot: str | None
    lot_seq: int | None
    seq: int | None
    hash: str | None


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    failures: list[CheckOut]
    checks: list[CheckOut]


class FieldProblem(BaseModel):
    field: str
    reason: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    code: str
    errors: list[FieldProblem] = Field(default_factory=list)


class TagIn(BaseModel):
    model_config = _STRICT
    uid: str = Field(
        min_length=14,
        max_length=14,
        pattern="^[0-9A-Fa-f]{14}$",
        description="The NTAG 424 DNA's 7-byte UID, hex",
    )


class ClaimIn(BaseModel):
    model_config = _STRICT
    code: str = Field(
        min_length=1,
        max_length=64,
        pattern="^[A-Za-z0-9][A-Za-z0-9 -]{0,63}$",
        description="The claim code, as printed (letters, digits; spaces and dashes ignored)",
    )
