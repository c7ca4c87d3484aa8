"""A refinery's month, as issue 11 describes it: the realistic workload for tests and benches.

Sixty mines in eight countries each extract, smelt and assay six doré lots from their own
deposits (a chain of eight signed events each, with location, emissions, energy,
certification, mercury and conflict declarations) and hand them to a refinery, which also
takes in 150 lots of recycled scrap; it melts all 510 lots in one transformation into
kilobars, splits one bar into grain, and a jeweler fabricates 200 rings from the grain and
sells each. Everything is posted over the real API, mostly through ``POST /v1/batch``.

``build`` works on any client of the API: FastAPI's TestClient (the test suite) or httpx
against a real server (``bench/refinery_bench.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from app.ledger.events import Event
from app.ledger.provenance.transformations import TRANSFORMATION_TYPE, Transformation
from tests.support import Actor, Ledger, next_time, sign, sign_transformation

COUNTRIES = ("GH", "PE", "AU", "CA", "ZA", "ML", "BR", "PG")
DORE_MASS_G = Decimal(580)
DORE_FINENESS = Decimal("849.7")
SCRAP_MASS_G = Decimal(400)
SCRAP_FINENESS = Decimal(750)
RING_MASS_G, RING_FINENESS = 3, 750
LBMA = {
    "scheme": "LBMA Good Delivery",
    "id": "LBMA-GD-FICT-0099",
    "issuer": "LBMA",
    "valid_from": "2024-01-01",
    "valid_until": "2030-12-31",
}
FAIRMINED = {
    "scheme": "Fairmined",
    "id": "FM-FICT-0007",
    "issuer": "Alliance for Responsible Mining",
    "valid_from": "2024-01-01",
    "valid_until": "2030-12-31",
}


@dataclass
class Workload:
    """What was built, and the figures a correct ledger must then show."""

    mines: int
    dore: list[str] = field(default_factory=list)
    scrap: list[str] = field(default_factory=list)
    bars: list[str] = field(default_factory=list)
    rings: list[str] = field(default_factory=list)
    melt_inputs: int = 0
    entries_posted: int = 0
    mined_fine_g: Decimal = Decimal(0)
    recycled_fine_g: Decimal = Decimal(0)

    @property
    def recycled_share(self) -> Decimal:
        return self.recycled_fine_g / (self.mined_fine_g + self.recycled_fine_g)


class _Poster:
    """Builds signed envelopes over heads it tracks itself, and posts them in batches."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.heads: dict[str, str | None] = {}
        self.posted = 0

    def event(self, actor: Actor, lot: str, stage: str, action: str, data: dict[str, Any]) -> Any:
        body = self.ledger.event(actor, lot, stage, action, data, prev=self.heads.get(lot))
        self.heads[lot] = Event.from_json(body).hash
        return sign(body, actor.key)

    def transformation(
        self,
        actor: Actor,
        stage: str,
        action: str,
        inputs: list[tuple[str, Decimal | None]],
        outputs: list[dict[str, Any]],
        data: dict[str, Any],
    ) -> Any:
        body = {
            "type": TRANSFORMATION_TYPE,
            "partner": actor.id,
            "key": actor.key.public.key_id,
            "stage": stage,
            "action": action,
            "occurred_at": next_time(),
            "inputs": [
                {"lot": lot, "prev": self.heads[lot]}
                | ({} if fine is None else {"fine_g": float(fine)})
                for lot, fine in inputs
            ],
            "outputs": outputs,
            "data": data,
        }
        digest = Transformation.from_json(body).hash
        for item in body["inputs"]:
            self.heads[item["lot"]] = digest
        for item in outputs:
            self.heads[item["lot"]] = digest
        return sign_transformation(body, actor.key)

    def post(self, actor: Actor, items: list[Any]) -> None:
        for start in range(0, len(items), 1000):
            part = items[start : start + 1000]
            response = self.ledger.client.post(
                "/v1/batch", json={"items": part}, headers=actor.auth
            )
            assert response.status_code == 200, response.text[:2000]
            answer = response.json()
            refused = [r for r in answer["results"] if r["status"] not in (200, 201)]
            assert not refused, refused[:3]
            self.posted += len(part)


def _mine_chain(
    poster: _Poster, mine: Actor, refinery: Actor, lot: str, country: str, artisanal: bool
) -> list[Any]:
    extraction = {
        "form": "ore",
        "mass_g": 1_000_000,
        "fineness": 0.5,
        "emissions_kgco2e": 8000 if not artisanal else 3000,
        "energy_kwh": 12000,
        "renewable_share": 0.3,
        "mercury_used": False,
        "conflict_affected": False,
        "artisanal": artisanal,
    } | ({"certifications": [FAIRMINED]} if artisanal else {})
    return [
        poster.event(
            mine,
            lot,
            "exploration",
            "site_registered",
            {"form": "deposit", "location": {"country": country}},
        ),
        poster.event(mine, lot, "exploration", "permit_granted", {"permit": f"P-{lot}"}),
        poster.event(mine, lot, "exploration", "impact_assessed", {"emissions_kgco2e": 50}),
        poster.event(mine, lot, "mining", "extracted", extraction),
        poster.event(
            mine,
            lot,
            "smelting",
            "smelted",
            {"form": "dore", "mass_g": 580, "fineness": 850.0, "emissions_kgco2e": 300},
        ),
        poster.event(mine, lot, "smelting", "assayed", {"fineness": float(DORE_FINENESS)}),
        poster.event(mine, lot, "circulation", "transferred", {"to": refinery.id}),
    ]


def build(
    ledger: Ledger,
    *,
    mines: int = 60,
    dore_per_mine: int = 6,
    intakes: int = 150,
    rings: int = 200,
) -> Workload:
    """Post the whole workload; returns what it made."""
    poster = _Poster(ledger)
    work = Workload(mines=mines)
    refinery = ledger.partner("ticino-refinery", "refiner", "smelter", country="CH")
    jeweler = ledger.partner("hk-heritage", "jeweler", country="CN")
    received: list[Any] = []
    for m in range(mines):
        country = COUNTRIES[m % len(COUNTRIES)]
        mine = ledger.partner(f"mine-{m:02d}", "miner", "smelter", country=country)
        chains = []
        for d in range(dore_per_mine):
            lot = f"M{m:02d}-D{d}"
            chains += _mine_chain(poster, mine, refinery, lot, country, artisanal=m % 5 == 0)
            received.append(poster.event(refinery, lot, "circulation", "received", {}))
            work.dore.append(lot)
        poster.post(mine, chains)
    for k in range(intakes):
        lot = f"SCR-{k:03d}"
        received.append(
            poster.transformation(
                refinery,
                "smelting",
                "recycled_intake",
                [],
                [{"lot": lot, "form": "scrap", "mass_g": 400, "fineness": 750}],
                {"recycled": True, "emissions_kgco2e": 2, "location": {"country": "CN"}},
            )
        )
        work.scrap.append(lot)
    poster.post(refinery, received)
    work.mined_fine_g = len(work.dore) * DORE_MASS_G * DORE_FINENESS / 1000
    work.recycled_fine_g = len(work.scrap) * SCRAP_MASS_G * SCRAP_FINENESS / 1000
    total = work.mined_fine_g + work.recycled_fine_g
    bar_fine = Decimal("999.9")
    count = int(total // bar_fine) - 1
    rest = total - count * bar_fine
    grain_mass = (rest / Decimal("0.9999")).quantize(Decimal("0.001"), rounding=ROUND_DOWN)
    loss = (rest - grain_mass * Decimal("0.9999")).quantize(Decimal("0.000001"))
    work.bars = [f"KB-{n:04d}" for n in range(count)]
    outputs = [{"lot": bar, "form": "bar", "mass_g": 1000, "fineness": 999.9} for bar in work.bars]
    outputs.append(
        {"lot": "KB-REST", "form": "grain", "mass_g": float(grain_mass), "fineness": 999.9}
    )
    inputs: list[tuple[str, Decimal | None]] = [(lot, None) for lot in work.dore + work.scrap]
    work.melt_inputs = len(inputs)
    melt = poster.transformation(
        refinery,
        "smelting",
        "refined",
        inputs,
        outputs,
        {
            "declared_loss_fine_g": float(loss),
            "emissions_kgco2e": 5200,
            "location": {"country": "CH"},
            "certifications": [LBMA],
        },
    )
    split = poster.transformation(
        refinery,
        "smelting",
        "split",
        [(work.bars[0], None)],
        [
            {"lot": "GR-A", "form": "grain", "mass_g": 500, "fineness": 999.9},
            {"lot": "GR-B", "form": "grain", "mass_g": 500, "fineness": 999.9},
        ],
        {},
    )
    handover = poster.event(refinery, "GR-A", "circulation", "transferred", {"to": jeweler.id})
    poster.post(refinery, [melt, split, handover])
    work.rings = [f"RING-{r:03d}" for r in range(rings)]
    fine = Decimal(RING_MASS_G * RING_FINENESS) / 1000 * rings
    taken = poster.event(jeweler, "GR-A", "circulation", "received", {})
    made = poster.transformation(
        jeweler,
        "smelting",
        "fabricated",
        [("GR-A", fine)],
        [
            {"lot": ring, "form": "jewellery", "mass_g": RING_MASS_G, "fineness": RING_FINENESS}
            for ring in work.rings
        ],
        {"emissions_kgco2e": 40, "location": {"country": "CN"}},
    )
    sales = [
        poster.event(jeweler, ring, "sale", "sold", {"channel": "retail"}) for ring in work.rings
    ]
    poster.post(jeweler, [taken, made])
    poster.post(jeweler, sales)
    work.entries_posted = poster.posted
    return work
