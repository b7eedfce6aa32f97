"""Bad input, property-based: carrier CSV import, rate card import, mapping JSON, list filters and the
SQL console. Whatever comes in: no 500, nothing half-written, and every rejection says why."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.conf import settings as settings_module
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import services as billing_services
from billing.models import Carrier, Rate, RateCard
from reconciliation import services as recon_services
from reconciliation.models import CarrierCdr, CarrierUpload, UploadRowError
from reconciliation.presets import PRESETS, validate_mapping
from tests.hardening import figures

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
COUNTS: dict[str, int] = {}


def _count(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1
    figures.record(f"fuzz_{name}", examples=COUNTS[name])


# --- carrier CSV import ------------------------------------------------------------------------------

TELNYX = PRESETS["telnyx"]
HEADER = [TELNYX[k] for k in ("call_id", "record_id", "start", "start_utc_reference", "answer", "duration",
                              "billed_duration", "charge", "rate", "currency", "from", "to", "direction")]
GOOD = ["abc@10.0.0.1", "leg-1", "2026-11-01T10:00:00Z", "2026-11-01T10:00:00Z", "2026-11-01T10:00:05Z", "65",
        "120", "0.0120", "0.006", "USD", "+14155550100", "+442079460001", "outbound"]
_ODD = ["", "NaN", "-1", "0x10", "2026-13-45T25:61:00Z", "€12,50", "null", "=1+1", "  ", "+", "tel:", "<>",
        "inbound", "1:02:03"]
# Huge numbers, NUL characters and rows without their UTC reference once crashed the import; they
# are generated like any other cell (and pinned one by one in KNOWN_CRASHES below).
NUMERIC_COLUMNS = {5, 6, 7, 8}
HUGE = ["1e309", "9" * 40, "123456789012345678901", "1e20"]
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
cell = st.one_of(st.sampled_from(_ODD + HUGE + ["\x00"]), _text)
numeric_cell = st.one_of(st.sampled_from(_ODD + HUGE), _text)


@st.composite
def carrier_files(draw) -> tuple[bytes, int]:
    """A Telnyx-shaped file with some cells replaced, in some encoding, or plain random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=400)), -1
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        row = list(GOOD)
        for i in draw(st.sets(st.integers(0, len(row) - 1), max_size=4)):
            row[i] = draw(numeric_cell if i in NUMERIC_COLUMNS else cell)
        if draw(st.booleans()) and draw(st.integers(0, 5)) == 0:
            row = row[: draw(st.integers(0, len(row)))]  # a short row
        rows.append(row)
    buffer = io.StringIO()
    header = HEADER if draw(st.integers(0, 7)) else draw(st.lists(st.text(max_size=8), max_size=5))
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"]))
    return buffer.getvalue().encode(encoding, errors="replace"), len(rows)


def _explained(err: ValidationError) -> bool:
    return bool(err.messages) and all(str(m).strip() for m in err.messages)


@pytest.fixture
def carrier(db):
    return Carrier.objects.create(name="Fuzz Telecom", currency="USD")


@pytest.mark.slow
@FUZZ
@given(data=carrier_files())
def test_carrier_csv_import_never_half_writes(carrier, django_capture_on_commit_callbacks, data):
    payload, _rows = data
    cdrs_before = CarrierCdr.objects.count()
    _count("carrier_csv_service")
    try:
        upload = recon_services.create_upload(
            carrier=carrier, stream=io.BytesIO(payload), original_name="fuzz.csv", preset="telnyx",
        )
    except ValidationError as err:
        assert _explained(err), err
        assert CarrierCdr.objects.count() == cdrs_before
        return
    if upload.status == CarrierUpload.Status.REJECTED:
        assert upload.error.strip()
        return
    assert upload.status == CarrierUpload.Status.PREVIEWED
    with django_capture_on_commit_callbacks(execute=True):
        recon_services.confirm_upload(upload=upload)
    upload.refresh_from_db()
    stored = CarrierCdr.objects.filter(upload=upload).count()
    errors = list(UploadRowError.objects.filter(upload=upload))
    if upload.status == CarrierUpload.Status.REJECTED:
        assert stored == 0 and errors, "a rejected file keeps no rows and says which lines were bad"
        assert all(e.line >= 1 and e.reason.strip() for e in errors)
        assert upload.error.strip()
    else:
        assert upload.status == CarrierUpload.Status.IMPORTED, (upload.status, upload.error)
        assert stored == upload.rows_imported and not errors
        # A charge may be empty (not rated yet, platforms-and-carriers.md §4 Bandwidth); when present it is Decimal.
        assert all(c.charge is None or isinstance(c.charge, Decimal) for c in CarrierCdr.objects.filter(upload=upload))
    assert CarrierCdr.objects.count() == cdrs_before + stored
    # Keep later examples independent of this file (a re-upload of the same bytes is refused by design).
    CarrierCdr.objects.filter(upload=upload).delete()
    upload.delete()


@pytest.mark.slow
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=carrier_files(), period=st.sampled_from([("2026-11-01", "2026-11-30"), ("2026-11-30", "2026-11-01"),
                                                     ("not a date", ""), ("2026-02-30", "2026-03-01")]))
def test_the_upload_view_never_fails_on_bad_files(carrier, analyst, data, period):
    payload, _rows = data
    client = Client(raise_request_exception=False)
    client.force_login(analyst)
    before = CarrierCdr.objects.count(), UploadRowError.objects.count()
    _count("carrier_csv_view")
    response = client.post(reverse("reconciliation:upload-create"), {
        "carrier": carrier.pk, "period_start": period[0], "period_end": period[1], "preset": "telnyx",
        "file": SimpleUploadedFile("fuzz.csv", payload, content_type="text/csv"),
    })
    assert response.status_code in (200, 302, 400), response.status_code
    if response.status_code != 302:
        assert b"errorlist" in response.content or b"error" in response.content.lower()
    # A preview imports nothing until confirmed.
    assert (CarrierCdr.objects.count(), UploadRowError.objects.count()) == before
    CarrierUpload.objects.all().delete()


ON_POSTGRES = settings_module.DATABASES["default"]["ENGINE"].endswith("postgresql")
# Rows that once crashed the import (upload FAILED with an exception) instead of becoming row errors.
KNOWN_CRASHES = [
    pytest.param({5: "1e20"}, id="huge-duration"),
    pytest.param({5: "1e309"}, id="overflowing-duration"),
    pytest.param({3: "", 4: ""}, id="no-utc-reference-no-answer"),
    pytest.param({8: "1e309"}, id="overflowing-rate"),
    pytest.param({7: "1e20"}, id="overflowing-charge"),
    pytest.param({0: "\x00"}, id="nul-in-call-id"),
    pytest.param({12: "out\x00bound"}, id="nul-in-direction"),
]


@pytest.mark.parametrize("cells", KNOWN_CRASHES)
def test_a_bad_cell_is_a_row_error_not_a_crash(carrier, django_capture_on_commit_callbacks, cells):
    row = list(GOOD)
    for index, value in cells.items():
        row[index] = value
    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADER, GOOD, row])
    upload = recon_services.create_upload(carrier=carrier, stream=io.BytesIO(buffer.getvalue().encode()),
                                          original_name="bad-cell.csv", preset="telnyx")
    with django_capture_on_commit_callbacks(execute=True):
        recon_services.confirm_upload(upload=upload)
    upload.refresh_from_db()
    assert upload.status in (CarrierUpload.Status.REJECTED, CarrierUpload.Status.IMPORTED)
    if upload.status == CarrierUpload.Status.REJECTED:
        assert UploadRowError.objects.filter(upload=upload, line=3).exists()


# --- rate card import ---------------------------------------------------------------------------------

RATE_HEADER = "prefix,destination,direction,rate_per_minute,connect_fee,min_billable_seconds,minimum_cost,increment"
rate_cell = st.one_of(st.sampled_from(["", "44", "1", "abc", "-0.01", "0.0120", "1e3", "NaN", "60/6", "6/0",
                                       "outbound", "inbound", "both", "0" * 30, "€", "\u202e"]),
                      st.text(max_size=12))


@st.composite
def rate_cards(draw) -> str:
    lines = [RATE_HEADER if draw(st.integers(0, 5)) else draw(st.text(max_size=40))]
    for _ in range(draw(st.integers(0, 6))):
        row = ["44", "United Kingdom", "outbound", "0.0110", "0", "0", "0", ""]
        for i in draw(st.sets(st.integers(0, 7), max_size=3)):
            row[i] = draw(rate_cell)
        buffer = io.StringIO()
        csv.writer(buffer).writerow(row)
        lines.append(buffer.getvalue().rstrip("\r\n"))
    return "\n".join(lines)


@pytest.mark.slow
@FUZZ
@given(text=rate_cards(), currency=st.sampled_from(["USD", "usd", "", "US", "€€€"]))
def test_rate_card_import_writes_all_or_nothing(db, django_capture_on_commit_callbacks, text, currency):
    before = RateCard.objects.count(), Rate.objects.count(), Carrier.objects.count()
    _count("rate_card")
    with django_capture_on_commit_callbacks(execute=False):
        result = billing_services.import_rate_card(
            actor="fuzz", data=text, carrier_name="Fuzz Rates", currency=currency,
            effective_from=datetime(2026, 11, 1, tzinfo=UTC),
        )
    if result.errors:
        assert (RateCard.objects.count(), Rate.objects.count(), Carrier.objects.count()) == before
        for e in result.errors:
            assert e.reason.strip() and isinstance(e.line, int)
    else:
        assert result.card is not None
        assert Rate.objects.filter(rate_card=result.card).count() == len(result.rows)
        Rate.objects.filter(rate_card=result.card).delete()
        result.card.delete()
        Carrier.objects.filter(name="Fuzz Rates").delete()


# --- mapping JSON ------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
mapping_like = st.dictionaries(
    st.sampled_from([*PRESETS["telnyx"], "bogus", ""]),
    st.one_of(st.text(max_size=15), st.sampled_from(["=USD", "Europe/Nowhere", "hms", "fortnights", ";", "utf-99"]),
              st.integers(), st.none()),
    max_size=8,
)


@FUZZ
@given(data=st.one_of(json_values, mapping_like))
def test_validate_mapping_accepts_or_explains(data):
    _count("mapping_json")
    try:
        clean = validate_mapping(data)
    except ValidationError as err:
        assert _explained(err)
    else:
        assert isinstance(clean, dict)


@pytest.mark.slow
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=st.one_of(json_values.map(json.dumps), st.text(max_size=60), mapping_like.map(json.dumps)))
def test_the_mapping_file_option_fails_with_a_command_error(db, tmp_path_factory, raw):
    _count("mapping_file")
    folder = tmp_path_factory.mktemp("map")
    (folder / "mapping.json").write_text(raw)
    (folder / "cdrs.csv").write_text(",".join(HEADER) + "\n" + ",".join(GOOD) + "\n")
    before = CarrierCdr.objects.count(), Carrier.objects.count()
    try:
        call_command("import_carrier_cdrs", str(folder / "cdrs.csv"), "--carrier", "Map Fuzz",
                     "--mapping", str(folder / "mapping.json"), stdout=io.StringIO())
    except CommandError as err:
        assert str(err).strip()
        assert (CarrierCdr.objects.count(), Carrier.objects.count()) == before
    else:
        CarrierCdr.objects.all().delete()
        CarrierUpload.objects.all().delete()
        Carrier.objects.filter(name="Map Fuzz").delete()


# --- list filters ----------------------------------------------------------------------------------------

class _GetFields(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self._in_get_form = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._in_get_form = (a.get("method") or "get").lower() == "get"
        elif tag in ("input", "select") and self._in_get_form and a.get("name"):
            self.names.add(a["name"])

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_get_form = False


FILTER_PAGES = ["home", "calls:list", "reconciliation:discrepancy-list", "calls:export"]
filter_value = st.one_of(
    st.sampled_from(["", "2026-02-30", "2026-11-01", "-1", "1e999", "NaN", "99999999999999999999", "0x1f",
                     "2026-11-01T25:00", "../../etc/passwd", "' OR 1=1 --", "%00", "Infinity", "9" * 300]),
    st.text(max_size=20),
)


@pytest.fixture
def filter_fields(admin_user_role) -> dict[str, list[str]]:
    """The GET filter fields each list page renders (so a new filter is fuzzed without editing this file)."""
    client = Client()
    client.force_login(admin_user_role)
    out = {}
    for name in FILTER_PAGES:
        parser = _GetFields()
        page_name = "calls:list" if name == "calls:export" else name
        parser.feed(client.get(reverse(page_name)).content.decode())
        out[name] = sorted(parser.names | {"start", "end", "page", "sort", "period", "min_amount"})
    return out


@pytest.mark.slow
@FUZZ
@given(page=st.sampled_from(FILTER_PAGES), data=st.data())
def test_list_filters_never_500(analyst, filter_fields, page, data):
    _count("filters")
    fields = filter_fields[page]
    params = data.draw(st.dictionaries(st.sampled_from(fields), filter_value, min_size=1, max_size=4))
    client = Client(raise_request_exception=False)
    client.force_login(analyst)
    response = client.get(reverse(page), params)
    assert response.status_code in (200, 302, 400), (page, params, response.status_code)
    if response.status_code == 400:
        assert response.content.strip(), "a refused filter says why"


# --- SQL console ---------------------------------------------------------------------------------------

sql_text = st.one_of(
    st.sampled_from([
        "DELETE FROM call_legs", "DROP TABLE call_legs", "UPDATE costs SET cost = 0", "SELECT 1; SELECT 2",
        "SELECT * FROM auth_user", "SELECT * FROM extraction_callleg", "SELECT pg_sleep(10)",
        "SELECT * FROM call_legs WHERE ani = '", "WITH x AS (DELETE FROM costs RETURNING *) SELECT * FROM x",
        "SELECT load_extension('x')", "ATTACH DATABASE 'x' AS y", "PRAGMA writable_schema = 1",
        "SELECT * FROM call_legs LIMIT -1", "SELECT 1/0", "SELECT " + "1+" * 500 + "1", "",
        "SELECT * FROM costs; COMMIT; DELETE FROM costs",
    ]),
    st.text(max_size=80),
    st.builds(lambda a, b: f"SELECT {a} FROM call_legs WHERE {b}", st.text(max_size=15), st.text(max_size=15)),
)


@pytest.mark.slow
@FUZZ
@given(sql=sql_text)
def test_the_sql_console_refuses_or_answers(analyst, sql):
    from cdrweb.console.models import QueryHistory
    from extraction.models import CallLeg

    _count("sql_console")
    client = Client(raise_request_exception=False)
    client.force_login(analyst)
    legs, users = CallLeg.objects.count(), get_user_model().objects.count()
    response = client.post(reverse("console:index"), {"sql": sql, "skip_plan": "on"})
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 400:
        history = QueryHistory.objects.order_by("-pk").first()
        explained = (history is not None and history.error.strip()) or b"errorlist" in response.content
        assert explained, "a refused query says why"
    assert CallLeg.objects.count() == legs
    assert get_user_model().objects.count() == users
