"""The demo behind `make run`: one user per role, then traffic through the real pipeline.

``generate_demo_data`` extracts N days of synthetic Genesys traffic from the local sandbox over
HTTP (the same extraction service the UI uses), imports two carriers' rate cards, rates every
leg, writes one carrier CSV per carrier from the same calls with known injected discrepancies,
imports those files through the real import path and reconciles them. Deterministic for a seed.
Idempotent: it does nothing when the demo connection already has a finished extraction.
"""

from __future__ import annotations

import csv
import random
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from cdrweb import roles


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str


DEMO_USERS = (
    DemoUser("admin", "cdrweb-admin", roles.ADMINISTRATOR),
    DemoUser("analyst", "cdrweb-analyst", roles.FINANCE_ANALYST),
    DemoUser("viewer", "cdrweb-viewer", roles.FINANCE_VIEWER),
    DemoUser("auditor", "cdrweb-auditor", roles.AUDITOR),
)

DEMO_CONNECTION = "Demo Genesys (sandbox)"
DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-sandbox-secret"  # noqa: S105 - the local sandbox accepts any secret
SANDBOX_HOST = "127.0.0.1"
SANDBOX_PORT = int(getattr(settings, "CDRWEB_SANDBOX_PORT", 8765))
DEFAULT_DAYS, DEFAULT_CALLS_PER_DAY, DEFAULT_SEED = 60, 100, 42

# Two carriers, one per sandbox edge (extraction/platforms/genesys/sandbox/generator.py EDGES).
EDGE_A = "00000000-5a3b-40ed-8000-000000000001"
EDGE_B = "00000000-5a3b-40ed-8000-000000000002"
CARRIERS = {
    # name: (edge, preset of its CDR file, increment, default carrier?, rows: prefix -> (dest, out, in))
    "Telnyx": (EDGE_A, "telnyx", (60, 60), False, {
        "": ("Rest of world", "0.1200", "0.0300"),
        "1": ("United States", "0.0050", "0.0035"),
        "44": ("United Kingdom", "0.0110", "0.0060"),
        "447": ("United Kingdom mobile", "0.0290", None),
        "61": ("Australia", "0.0200", None),
        "614": ("Australia mobile", "0.0380", None),
        "33": ("France", "0.0150", None),
    }),
    "Wholesale Voice Ltd": (EDGE_B, "generic_wholesale", (30, 6), True, {
        "": ("Rest of world", "0.1000", "0.0250"),
        "1": ("United States", "0.0060", "0.0040"),
        "44": ("United Kingdom", "0.0100", "0.0050"),
        "447": ("United Kingdom mobile", "0.0270", None),
        "61": ("Australia", "0.0190", None),
        "614": ("Australia mobile", "0.0350", None),
        "33": ("France", "0.0140", None),
    }),
}
# Known injected discrepancies per carrier file (counts of legs affected).
INJECT = {"over_long": 6, "wrong_rate": 6, "double_billed": 4, "phantom": 5, "missing": 5}


@dataclass
class DemoSummary:
    conversations: int = 0
    legs: int = 0
    rated: int = 0
    unrated: int = 0
    files: dict[str, str] = field(default_factory=dict)
    injected: dict[str, dict[str, int]] = field(default_factory=dict)
    discrepancies: dict[str, dict[str, int]] = field(default_factory=dict)
    run_ids: dict[str, int] = field(default_factory=dict)
    skipped: bool = False


def create_demo_users() -> list[tuple[DemoUser, bool]]:
    """Create the four demo users if missing; returns (user, created) pairs."""
    User = get_user_model()
    out = []
    with transaction.atomic():
        for demo in DEMO_USERS:
            user, created = User.objects.get_or_create(username=demo.username)
            if created:
                user.set_password(demo.password)
                user.is_staff = demo.role == roles.ADMINISTRATOR
                user.save()
                user.groups.set([Group.objects.get(name=demo.role)])
            out.append((demo, created))
    return out


def sandbox_commands() -> dict[str, list[str]]:
    """manage.py argv of the local sandboxes the demo connections point at (started by `serve`)."""
    from extraction.models import Connection

    connection = Connection.objects.filter(name=DEMO_CONNECTION).first()
    if connection is None:
        return {}
    params = connection.settings.get("demo", {})
    return {
        "genesys-sandbox": [
            "genesys_sandbox", "--host", SANDBOX_HOST, "--port", str(SANDBOX_PORT),
            "--seed", str(params.get("seed", DEFAULT_SEED)),
            "--calls-per-day", str(params.get("calls_per_day", DEFAULT_CALLS_PER_DAY)),
        ]
    }


def demo_loaded() -> bool:
    from extraction.models import ExtractionRun, RunState

    return ExtractionRun.objects.filter(connection__name=DEMO_CONNECTION, state=RunState.SUCCEEDED).exists()


def _say(out: Callable[[str], None] | None, text: str) -> None:
    if out:
        out(text)


def generate_demo_data(
    *,
    days: int = DEFAULT_DAYS,
    calls_per_day: int = DEFAULT_CALLS_PER_DAY,
    seed: int = DEFAULT_SEED,
    out: Callable[[str], None] | None = None,
    end: datetime | None = None,
    port: int | None = None,
    workdir: Path | None = None,
) -> DemoSummary:
    """Build the demo data set through the real pipeline (see the module docstring)."""
    from extraction.platforms.genesys.sandbox import start_sandbox

    summary = DemoSummary()
    if demo_loaded():
        summary.skipped = True
        _say(out, "demo data already loaded; nothing to do")
        return summary
    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    port = SANDBOX_PORT if port is None else port
    handle = None
    try:
        handle = start_sandbox(port=port, host=SANDBOX_HOST, seed=seed, calls_per_day=calls_per_day)
        base_url = handle.base_url
    except OSError:  # a sandbox from a running `serve` already listens there: use it
        base_url = f"http://{SANDBOX_HOST}:{port}"
    try:
        connection = _demo_connection(base_url, seed=seed, calls_per_day=calls_per_day)
        _extract(connection, start, end, summary, out)
    finally:
        if handle is not None:
            handle.stop()
    _carriers_and_cards(start, out)
    _rate(start, end, summary, out)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="cdrweb-demo-"))
    for name, (edge, preset, _inc, _default, _rows) in CARRIERS.items():
        path = workdir / f"{preset}_{start:%Y%m%d}_{end:%Y%m%d}.csv"
        summary.injected[name] = write_carrier_file(carrier_name=name, edge=edge, preset=preset, path=path,
                                                    start=start, end=end, seed=seed)
        summary.files[name] = str(path)
        _import_and_reconcile(name, preset, path, start, end, summary, out)
    return summary


def _demo_connection(base_url: str, *, seed: int, calls_per_day: int):
    from extraction import services as extraction_services
    from extraction.models import Connection

    existing = Connection.objects.filter(name=DEMO_CONNECTION).first()
    data = {
        "platform": "genesys", "name": DEMO_CONNECTION, "base_url": base_url, "region": "",
        "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET, "default_region": "US",
    }
    connection = extraction_services.save_connection(connection=existing, user="load_demo", data=data)
    # Remember the sandbox parameters so `serve` restarts the same sandbox for later extractions.
    connection.settings = {**connection.settings, "demo": {"seed": seed, "calls_per_day": calls_per_day}}
    Connection.objects.filter(pk=connection.pk).update(settings=connection.settings)
    return connection


def _extract(connection, start: datetime, end: datetime, summary: DemoSummary, out) -> None:
    from extraction import services as extraction_services
    from extraction.models import CallLeg, Conversation

    _say(out, f"extracting {start:%Y-%m-%d}..{end:%Y-%m-%d} from the Genesys sandbox over HTTP ...")
    run = extraction_services.start_extraction(
        connection=connection, start=start, end=end, user="load_demo", enqueue_task=False
    )
    run = extraction_services.run_extraction(run_id=run.pk)
    summary.conversations = Conversation.objects.filter(connection=connection).count()
    summary.legs = CallLeg.objects.filter(connection=connection).count()
    _say(out, f"  run #{run.pk} {run.state}: {summary.conversations} conversations, {summary.legs} call legs")


def _rate_card_csv(rows: dict[str, tuple[str, str, str | None]]) -> str:
    lines = ["prefix,destination,direction,rate_per_minute,connect_fee,min_billable_seconds,minimum_cost,increment"]
    for prefix, (dest, out_rate, in_rate) in rows.items():
        lines.append(f"{prefix},{dest},outbound,{out_rate},0,0,0,")
        if in_rate is not None:
            lines.append(f"{prefix},{dest} (inbound),inbound,{in_rate},0,0,0,")
    return "\n".join(lines) + "\n"


def _carriers_and_cards(start: datetime, out) -> None:
    from billing import services as billing_services
    from billing.models import Carrier, CarrierTrunkMapping

    for name, (edge, _preset, increment, default, rows) in CARRIERS.items():
        if Carrier.objects.filter(name=name, rate_cards__isnull=False).exists():
            continue
        result = billing_services.import_rate_card(
            actor="load_demo", data=_rate_card_csv(rows), carrier_name=name, currency="USD",
            effective_from=start - timedelta(days=30), increment=increment, make_default=default,
            name=f"{name} 2026 price list",
        )
        if not result.ok:
            raise RuntimeError(f"demo rate card for {name} did not import: {result.errors}")
        carrier = Carrier.objects.get(name=name)
        if not CarrierTrunkMapping.objects.filter(match_field="edge_id", match_value=edge).exists():
            billing_services.save_trunk_mapping(
                actor="load_demo", carrier=carrier, match_field="edge_id", match_value=edge, direction="",
            )
        _say(out, f"  carrier {name}: {len(rows)} destinations, {increment[0]}/{increment[1]}")


def _rate(start: datetime, end: datetime, summary: DemoSummary, out) -> None:
    from billing import services as billing_services
    from billing.models import CostRecord

    _say(out, "rating every call leg ...")
    billing_services.rate_period(actor="load_demo", start=start - timedelta(days=1), end=end + timedelta(days=1))
    summary.rated = CostRecord.objects.filter(status=CostRecord.Status.RATED).count()
    summary.unrated = CostRecord.objects.filter(status=CostRecord.Status.UNRATED).count()
    _say(out, f"  {summary.rated} legs rated, {summary.unrated} unrated")


# --- carrier files ------------------------------------------------------------------------------


def _billed(seconds: int, first: int, next_: int) -> int:
    from billing.rating import billable_seconds

    return billable_seconds(seconds, first, next_)


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def write_carrier_file(
    *, carrier_name: str, edge: str, preset: str, path: Path, start: datetime, end: datetime, seed: int
) -> dict[str, int]:
    """Write the carrier's CDR file for its rated legs, with known injected discrepancies.

    Returns how many legs got each injection. The rows a carrier would bill are the answered,
    rated legs on its edge; charges follow the carrier's own increment and rate.
    """
    from billing.models import CostRecord

    records = list(
        CostRecord.objects.filter(
            carrier__name=carrier_name, status=CostRecord.Status.RATED, billable_seconds__gt=0,
            leg__started_at__gte=start, leg__started_at__lt=end,
        )
        .select_related("leg", "rate", "rate_card")
        .order_by("leg__started_at", "leg_id")
    )
    rng = random.Random(f"{seed}:{carrier_name}")
    picks = rng.sample(range(len(records)), k=min(len(records), sum(v for k, v in INJECT.items() if k != "phantom")))
    plan: dict[int, str] = {}
    cursor = 0
    for kind in ("over_long", "wrong_rate", "double_billed", "missing"):
        for index in picks[cursor:cursor + INJECT[kind]]:
            plan[index] = kind
        cursor += INJECT[kind]
    rows: list[dict] = []
    counts: Counter[str] = Counter()
    for index, record in enumerate(records):
        kind = plan.get(index, "")
        if kind == "missing":
            counts[kind] += 1
            continue
        row = _carrier_row(record, kind)
        rows.append(row)
        if kind:
            counts[kind] += 1
        if kind == "double_billed":
            rows.append({**row, "record_id": row["record_id"] + "-dup"})
    for n in range(INJECT["phantom"]):
        rows.append(_phantom_row(rng, start, end, n, records[0] if records else None))
        counts["phantom"] += 1
    rows.sort(key=lambda r: r["start"])
    _write(preset, rows, path)
    return dict(counts)


def _carrier_row(record, kind: str) -> dict:
    leg = record.leg
    first = record.rate.increment_first or record.rate_card.default_increment_first
    next_ = record.rate.increment_next or record.rate_card.default_increment_next
    talk = -(-leg.duration_ms // 1000)  # whole seconds, rounded up
    rate = record.rate.rate_per_minute
    if kind == "over_long":
        talk += 75  # always past the next increment, even under 60/60
    if kind == "wrong_rate":
        rate = (rate * Decimal("1.25")).quantize(Decimal("0.00000001"))
    billed = _billed(talk, first, next_)
    charge = (rate * billed / 60 + record.rate.connect_fee) if kind in ("over_long", "wrong_rate") else record.cost
    answer = leg.connected_at or leg.started_at
    return {
        "call_id": leg.sip_call_id, "record_id": f"L{leg.pk:08d}", "setup": leg.started_at, "start": answer,
        "talk": talk, "billed": billed, "charge": Decimal(charge), "rate": rate,
        "from": leg.ani_e164, "to": leg.dnis_e164, "direction": leg.direction,
    }


def _phantom_row(rng: random.Random, start: datetime, end: datetime, n: int, template) -> dict:
    at = start + timedelta(seconds=rng.randint(0, int((end - start).total_seconds()) - 3600))
    talk = rng.randint(30, 600)
    rate = template.rate.rate_per_minute if template else Decimal("0.0100")
    billed = _billed(talk, 60, 60)
    return {
        "call_id": f"{rng.getrandbits(64):016x}@192.0.2.99", "record_id": f"PH{n:04d}", "setup": at, "start": at,
        "talk": talk, "billed": billed, "charge": rate * billed / 60, "rate": rate,
        "from": "+13125550199", "to": f"+1212555{rng.randint(100, 199):04d}", "direction": "outbound",
    }


def _write(preset: str, rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        if preset == "telnyx":
            header = ["call_leg_id", "sip_call_id", "start_timestamp", "start_timestamp_utc", "answer_timestamp",
                      "call_duration", "billable_time", "rate", "cost", "currency", "origination_number",
                      "terminating_number", "direction"]
            writer = csv.writer(fh)
            writer.writerow(header)
            for r in rows:
                writer.writerow([
                    r["record_id"], r["call_id"], _iso(r["setup"]), _iso(r["setup"]), _iso(r["start"]),
                    r["talk"], r["billed"], r["rate"], _money(r["charge"]), "USD", r["from"], r["to"],
                    r["direction"],
                ])
        else:  # generic wholesale: the DIDWW-style layout with a BOM and <> Call-IDs
            fh.write("\ufeff")
            header = ["Call-ID", "Start Time", "Connect Time", "Duration (sec)", "Billed Duration (sec)", "Rate/Min",
                      "Amount", "Currency", "ANI", "DNIS", "Direction"]
            writer = csv.writer(fh)
            writer.writerow(header)
            for r in rows:
                writer.writerow([
                    f"<{r['call_id']}>", _iso(r["setup"]), _iso(r["start"]), r["talk"], r["billed"], r["rate"],
                    _money(r["charge"]), "USD", r["from"].lstrip("+"), r["to"].lstrip("+"), r["direction"],
                ])


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _import_and_reconcile(name: str, preset: str, path: Path, start: datetime, end: datetime,
                          summary: DemoSummary, out) -> None:
    from billing.models import Carrier
    from reconciliation import services as recon_services
    from reconciliation.models import Discrepancy

    upload, result, _created = recon_services.import_file(path=path, carrier_name=name, preset=preset, user=None)
    _say(out, f"  imported {path.name}: {result.rows_imported} rows, {result.rows_error} bad rows ({upload.status})")
    run = recon_services.start_run(carrier=Carrier.objects.get(name=name), period_start=start, period_end=end,
                                   background=False)
    run = recon_services.reconcile_run(run_id=run.pk) or run
    summary.run_ids[name] = run.pk
    summary.discrepancies[name] = dict(
        Counter(Discrepancy.objects.filter(run=run).values_list("type", flat=True))
    )
    _say(out, f"  reconciled {name}: run #{run.pk}, discrepancies {summary.discrepancies[name]}")
