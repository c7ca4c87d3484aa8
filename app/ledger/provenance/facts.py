"""The facts an event or transformation may carry in ``data`` (docs/PROTOCOL.md §14).

The schema is closed: a member that is not listed here is refused, so that a
typo (``emission_kgco2e``) or a unit the ledger does not use (``mass_kg``) is
caught when it is posted rather than silently ignored by the metrics. Every
quantity is a JSON number read as the exact decimal RFC 8785 writes for it.

This module only reads and checks values; which action needs which fact is the
domain's business (``app.domain.facts``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pycountry

from ..canonical import decimal_of
from ..errors import FieldError
from ..hashing import is_hash

__all__ = [
    "CERTIFICATION_SCHEMES",
    "DOCUMENT_KINDS",
    "FACT_FIELDS",
    "MAX_MASS_G",
    "Certification",
    "Document",
    "GreenFacts",
    "Location",
    "quantity",
    "read_fineness",
    "read_green_facts",
    "read_mass_g",
]

MAX_MASS_G = Decimal(10) ** 10  # ten thousand tonnes: far above any lot of ore
MAX_QUANTITY = Decimal(10) ** 12
MAX_TEXT = 500

CERTIFICATION_SCHEMES: tuple[str, ...] = (
    "LBMA Good Delivery",
    "LBMA Responsible Gold",
    "RJC Chain-of-Custody",
    "RJC Code of Practices",
    "Fairmined",
    "Fairtrade Gold",
    "IRMA",
    "ICMM Mining Principles",
    "WGC Responsible Gold Mining Principles",
    "ISO 14001",
    "ISO 50001",
)

DOCUMENT_KINDS: tuple[str, ...] = (
    "assay",
    "permit",
    "ESIA",
    "audit",
    "certificate",
    "customs",
    "invoice",
    "transport",
    "photo",
    "other",
)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class Location:
    country: str
    subdivision: str | None
    lat: Decimal | None
    lon: Decimal | None


@dataclass(frozen=True, slots=True)
class Certification:
    scheme: str
    id: str
    issuer: str
    valid_from: date
    valid_until: date

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_until


@dataclass(frozen=True, slots=True)
class Document:
    kind: str
    sha256: str


@dataclass(frozen=True, slots=True)
class GreenFacts:
    """The facts of one event's ``data`` that the metrics use, read and checked."""

    location: Location | None = None
    energy_kwh: Decimal | None = None
    renewable_share: Decimal | None = None
    emissions_kgco2e: Decimal | None = None
    scope1_kgco2e: Decimal | None = None
    scope2_kgco2e: Decimal | None = None
    water_m3: Decimal | None = None
    mercury_used: bool | None = None
    cyanide_used: bool | None = None
    conflict_affected: bool | None = None
    recycled: bool | None = None
    artisanal: bool | None = None
    certifications: tuple[Certification, ...] = ()
    documents: tuple[Document, ...] = ()
    declared_loss_fine_g: Decimal | None = None

    @property
    def total_emissions_kgco2e(self) -> Decimal:
        """Scope 1 + 2: ``emissions_kgco2e`` if stated, else the sum of the scopes stated."""
        if self.emissions_kgco2e is not None:
            return self.emissions_kgco2e
        return (self.scope1_kgco2e or Decimal(0)) + (self.scope2_kgco2e or Decimal(0))


def quantity(
    value: object,
    *,
    field: str,
    upper: Decimal = MAX_QUANTITY,
    decimals: int = 6,
    positive: bool = False,
) -> Decimal:
    """A JSON number as an exact decimal within ``[0, upper]`` (``(0, upper]`` if positive)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(field, "must be a JSON number")
    amount = decimal_of(value)
    if positive and amount <= 0:
        raise FieldError(field, f"must be greater than 0, got {amount}")
    if amount < 0:
        raise FieldError(field, f"must not be negative, got {amount}")
    if amount > upper:
        raise FieldError(field, f"must be at most {upper}, got {amount}")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > decimals:
        raise FieldError(field, f"at most {decimals} decimal places, got {amount}")
    return amount


def _text(value: object, field: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError(field, "must be a non-empty string")
    if len(value) > limit:
        raise FieldError(field, f"at most {limit} characters, got {len(value)}")
    return value


def _bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise FieldError(field, "must be true or false")
    return value


def _date(value: object, field: str) -> date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise FieldError(field, "must be a date like 2027-12-31")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise FieldError(field, f"not a real date: {exc}") from exc


def _object(value: object, field: str, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldError(field, "must be a JSON object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise FieldError(
            f"{field}.{unknown[0]}", f"unknown member; expected {', '.join(sorted(allowed))}"
        )
    return value


def _list(value: object, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise FieldError(field, "must be a JSON array")
    return value


def _location(value: object, field: str) -> Location:
    obj = _object(value, field, frozenset({"country", "subdivision", "lat", "lon"}))
    country = obj.get("country")
    if not isinstance(country, str) or pycountry.countries.get(alpha_2=country) is None:
        raise FieldError(f"{field}.country", "must be an ISO 3166-1 alpha-2 country code like GH")
    subdivision = obj.get("subdivision")
    if subdivision is not None:
        found = _subdivision_country(subdivision)
        if found is None:
            raise FieldError(
                f"{field}.subdivision", "must be an ISO 3166-2 subdivision code like GH-AH"
            )
        if found != country:
            raise FieldError(f"{field}.subdivision", f"{subdivision} is in {found}, not {country}")
    lat = _coordinate(obj, "lat", field, Decimal(90))
    lon = _coordinate(obj, "lon", field, Decimal(180))
    if (lat is None) != (lon is None):
        raise FieldError(f"{field}.{'lon' if lon is None else 'lat'}", "lat and lon go together")
    return Location(country, subdivision, lat, lon)


def _subdivision_country(code: object) -> str | None:
    if not isinstance(code, str):
        return None
    found = pycountry.subdivisions.get(code=code)  # type: ignore[no-untyped-call]
    return None if found is None else str(found.country_code)


def _coordinate(obj: dict[str, Any], name: str, field: str, bound: Decimal) -> Decimal | None:
    if name not in obj:
        return None
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(f"{field}.{name}", "must be a JSON number in degrees")
    degrees = decimal_of(value)
    if not -bound <= degrees <= bound:
        raise FieldError(f"{field}.{name}", f"must be within ±{bound} degrees, got {degrees}")
    return degrees


_CERTIFICATION_MEMBERS = frozenset({"scheme", "id", "issuer", "valid_from", "valid_until"})


def _certification(value: object, field: str) -> Certification:
    obj = _object(value, field, _CERTIFICATION_MEMBERS)
    missing = sorted(_CERTIFICATION_MEMBERS - set(obj))
    if missing:
        raise FieldError(f"{field}.{missing[0]}", "required member is missing")
    scheme = obj["scheme"]
    if scheme not in CERTIFICATION_SCHEMES:
        raise FieldError(f"{field}.scheme", f"must be one of {', '.join(CERTIFICATION_SCHEMES)}")
    valid_from = _date(obj["valid_from"], f"{field}.valid_from")
    valid_until = _date(obj["valid_until"], f"{field}.valid_until")
    if valid_until < valid_from:
        raise FieldError(f"{field}.valid_until", f"{valid_until} is before valid_from {valid_from}")
    return Certification(
        scheme=scheme,
        id=_text(obj["id"], f"{field}.id", 128),
        issuer=_text(obj["issuer"], f"{field}.issuer", 200),
        valid_from=valid_from,
        valid_until=valid_until,
    )


def _document(value: object, field: str) -> Document:
    obj = _object(value, field, frozenset({"kind", "sha256", "title"}))
    kind = obj.get("kind")
    if kind not in DOCUMENT_KINDS:
        raise FieldError(f"{field}.kind", f"must be one of {', '.join(DOCUMENT_KINDS)}")
    digest = obj.get("sha256")
    if not is_hash(digest):
        raise FieldError(f"{field}.sha256", "must be a 64-character lowercase hex SHA-256")
    if "title" in obj:
        _text(obj["title"], f"{field}.title", 200)
    return Document(str(kind), str(digest))


def _share(value: object, field: str) -> Decimal:
    share = quantity(value, field=field)
    if share > 1:
        raise FieldError(field, f"is a share between 0 and 1, got {share}")
    return share


def _sha256_hex(value: object, field: str) -> str:
    if not is_hash(value):
        raise FieldError(field, "must be a 64-character lowercase hex SHA-256")
    return str(value)


_TAG_ID = re.compile(r"^[0-9a-f]{16}$")


def _tag_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not _TAG_ID.match(value):
        raise FieldError(field, "must be a tag id: 16 lowercase hex characters")
    return value


_BAR_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./-]{0,39}$")
_BAR_MEMBERS = frozenset(
    {
        "brand",
        "serial",
        "metal",
        "gross_mass_g",
        "fineness",
        "year",
        "assay_certificate_sha256",
        "surface_fingerprint_sha256",
    }
)
_BAR_REQUIRED = ("brand", "serial", "metal", "gross_mass_g", "fineness")


def _bar(value: object, field: str) -> dict[str, Any]:
    """A bar as the bullion trade identifies it (LBMA/WGC Gold Bar Integrity): brand (the
    refiner's mark), serial number, metal, gross mass and fineness; the year, and digests of
    an assay certificate and of an optical surface fingerprint (a hash, not the image)."""
    obj = _object(value, field, _BAR_MEMBERS)
    for name in _BAR_REQUIRED:
        if name not in obj:
            raise FieldError(f"{field}.{name}", "required member is missing")
    _text(obj["brand"], f"{field}.brand", 100)
    serial = obj["serial"]
    if not isinstance(serial, str) or not _BAR_SERIAL.match(serial):
        raise FieldError(
            f"{field}.serial", "must be 1 to 40 letters, digits, spaces, '.', '/' or '-'"
        )
    if obj["metal"] != "gold":
        raise FieldError(f"{field}.metal", "must be gold")
    read_mass_g(obj["gross_mass_g"], f"{field}.gross_mass_g")
    read_fineness(obj["fineness"], f"{field}.fineness")
    if "year" in obj and (type(obj["year"]) is not int or not 1800 <= obj["year"] <= 9999):
        raise FieldError(f"{field}.year", "must be a year, e.g. 2026")
    for name in ("assay_certificate_sha256", "surface_fingerprint_sha256"):
        if name in obj:
            _sha256_hex(obj[name], f"{field}.{name}")
    return obj


def read_mass_g(value: object, field: str) -> Decimal:
    """A lot's mass: grams, more than 0, at most 3 decimals."""
    return quantity(value, field=field, upper=MAX_MASS_G, decimals=3, positive=True)


def read_fineness(value: object, field: str) -> Decimal:
    """A fineness: parts per thousand, more than 0, at most 1000."""
    return quantity(value, field=field, upper=Decimal(1000), decimals=6, positive=True)


def _amount(value: object, field: str) -> Decimal:
    return quantity(value, field=field)


Reader = Callable[[object, str], object]

FACT_FIELDS: Mapping[str, tuple[Reader, str]] = {
    # Lot quantities (which actions may state them: app.domain.facts).
    "form": (_text, "the lot's form"),
    "mass_g": (read_mass_g, "mass in grams, at most 3 decimals"),
    "fineness": (read_fineness, "parts per thousand of gold, (0, 1000]"),
    "receipt_assay_fineness": (read_fineness, "fineness measured on receipt"),
    "estimated_contained_g": (_amount, "estimated gold in a deposit, grams"),
    "alloy_added_g": (_amount, "alloy added in fabrication, grams"),
    "declared_loss_fine_g": (_amount, "fine gold lost in a transformation, grams"),
    # Environment.
    "location": (_location, "ISO 3166 country, subdivision, WGS 84 lat/lon"),
    "energy_kwh": (_amount, "energy used, kWh"),
    "renewable_share": (_share, "renewable share of that energy, 0…1"),
    "emissions_kgco2e": (_amount, "scope 1 + 2 emissions, kg CO2e"),
    "scope1_kgco2e": (_amount, "scope 1 emissions, kg CO2e"),
    "scope2_kgco2e": (_amount, "scope 2 emissions, kg CO2e"),
    "water_m3": (_amount, "water used, m³"),
    "mercury_used": (_bool, "mercury used in this step"),
    "cyanide_used": (_bool, "cyanide used in this step"),
    # Provenance and assurance.
    "conflict_affected": (_bool, "origin in a conflict-affected or high-risk area"),
    "recycled": (_bool, "recycled gold"),
    "artisanal": (_bool, "artisanal or small-scale mining (false: industrial)"),
    "certifications": (_list, "certifications of the partner for this step"),
    "documents": (_list, "SHA-256 digests of supporting documents"),
    # Descriptions.
    "to": (_text, "transferred: the receiving partner; shipped: destination"),
    "from": (_text, "shipped: origin"),
    "note": (_text, "free text"),
    "name": (_text, "a name for the site or lot"),
    "method": (_text, "mining or process method"),
    "source": (_text, "where recycled material came from"),
    "product": (_text, "what was made"),
    "channel": (_text, "sales channel"),
    "vault": (_text, "vault and bay"),
    "permit": (_text, "permit number"),
    "issuer": (_text, "permit issuer"),
    "valid_until": (_date, "permit valid until"),
    # Binding to the physical piece (§21).
    "tag": (_tag_id, "tag_bound, tag_unbound: the NFC tag's id"),
    "tag_uid_digest": (_sha256_hex, "tag_bound: the tag's UID as the service digests it"),
    "claim_code_sha256": (_sha256_hex, "claim_code_set: the claim code's commitment"),
    "bar": (_bar, "bar_identified: brand, serial, metal, gross mass, fineness"),
}


def read_green_facts(data: Mapping[str, Any], *, path: str = "event.data") -> GreenFacts:
    """Check every member of ``data`` against ``FACT_FIELDS`` and read the green facts.

    Raises FieldError naming the member and the reason, e.g.
    ``event.data.renewable_share: is a share between 0 and 1, got 1.2``.
    """
    values: dict[str, Any] = {}
    for name, value in data.items():
        spec = FACT_FIELDS.get(name)
        if spec is None:
            raise FieldError(
                f"{path}.{name}", "unknown fact; the documented facts are in PROTOCOL.md §14"
            )
        reader, _ = spec
        values[name] = reader(value, f"{path}.{name}")
    if {"emissions_kgco2e", "scope1_kgco2e", "scope2_kgco2e"} <= set(values):
        total = values["scope1_kgco2e"] + values["scope2_kgco2e"]
        if values["emissions_kgco2e"] != total:
            raise FieldError(
                f"{path}.emissions_kgco2e",
                f"{values['emissions_kgco2e']} is not scope 1 + scope 2 = {total}",
            )
    certifications = tuple(
        _certification(item, f"{path}.certifications[{i}]")
        for i, item in enumerate(values.get("certifications", []))
    )
    documents = tuple(
        _document(item, f"{path}.documents[{i}]")
        for i, item in enumerate(values.get("documents", []))
    )
    return GreenFacts(
        location=values.get("location"),
        energy_kwh=values.get("energy_kwh"),
        renewable_share=values.get("renewable_share"),
        emissions_kgco2e=values.get("emissions_kgco2e"),
        scope1_kgco2e=values.get("scope1_kgco2e"),
        scope2_kgco2e=values.get("scope2_kgco2e"),
        water_m3=values.get("water_m3"),
        mercury_used=values.get("mercury_used"),
        cyanide_used=values.get("cyanide_used"),
        conflict_affected=values.get("conflict_affected"),
        recycled=values.get("recycled"),
        artisanal=values.get("artisanal"),
        certifications=certifications,
        documents=documents,
        declared_loss_fine_g=values.get("declared_loss_fine_g"),
    )
