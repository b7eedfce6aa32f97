"""The virtual tables: all documented, all built from the models, all runnable, PII all masked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

from cdrweb.console import services, vtables
from cdrweb.console.vtables import VColumn, VTable
from tests.console.factories import (
    CallLegFactory,
    CarrierCdrFactory,
    CostRecordFactory,
    DiscrepancyFactory,
    RateFactory,
    SegmentFactory,
    SessionMetricFactory,
)

DOCUMENTED = [
    "conversations", "participants", "sessions", "segments", "metrics", "call_legs", "costs",
    "carrier_cdrs", "discrepancies", "rate_cards", "rates",
]
DOC = Path(settings.BASE_DIR) / "docs" / "SQL_CONSOLE.md"


def _documented_columns() -> dict[str, list[str]]:
    sections = re.split(r"^### `(\w+)`\s*$", DOC.read_text(), flags=re.M)
    return {
        name: re.findall(r"^\| `(\w+)` \|", body, flags=re.M)
        for name, body in zip(sections[1::2], sections[2::2], strict=True)
    }


def test_every_issue_table_exists():
    assert sorted(vtables.virtual_tables()) == sorted(DOCUMENTED)


def test_the_documentation_lists_every_table_and_column_in_order():
    documented = _documented_columns()
    assert list(documented) == list(vtables.virtual_tables())
    for name, table in vtables.virtual_tables().items():
        assert documented[name] == [c.name for c in table.columns], name


@pytest.fixture
def one_of_everything(db):
    metric = SessionMetricFactory()
    SegmentFactory(session=metric.session)
    cost = CostRecordFactory(leg=CallLegFactory(conversation=metric.conversation))
    RateFactory(rate_card__carrier=cost.carrier)
    DiscrepancyFactory(carrier_cdr=CarrierCdrFactory(), leg=cost.leg)


@pytest.mark.parametrize("name", DOCUMENTED)
def test_every_virtual_table_runs_for_every_column(analyst, one_of_everything, name):
    table = vtables.virtual_tables()[name]
    columns = ", ".join(c.name for c in table.columns)
    run = services.run_query(user=analyst, sql=f"SELECT {columns} FROM {name}")
    assert run.error == ""
    assert run.result.columns == [c.name for c in table.columns]
    assert len(run.result.rows) == 1
    assert run.result.rows[0][0] is not None  # the id


def test_the_selects_read_the_models_columns_not_the_console_names():
    sql = vtables.select_sql("costs", vendor="sqlite", reveal=True)
    assert '"billing_costrecord" AS "t0"' in sql
    assert '"j_leg"."started_at" AS "started_at"' in sql
    assert '"t0"."leg_id" AS "call_leg_id"' in sql


def test_a_renamed_model_field_fails_loudly():
    broken = VTable(name="broken", model="extraction.CallLeg", doc="",
                    columns=(VColumn(name="x", source="no_such_field", type="text"),))
    with pytest.raises(Exception, match="no_such_field"):
        vtables.base_columns(broken)


def _model_pii(table: VTable) -> dict[str, str]:
    """{console column: kind} for every column whose model field is declared PII."""
    out = {}
    for column in table.columns:
        model = apps.get_model(table.model)
        *hops, last = column.source.split("__")
        for hop in hops:
            model = model._meta.get_field(hop).related_model
        kind = getattr(model, "pii_fields", {}).get(last)
        if kind:
            out[column.name] = kind
    return out


@pytest.mark.parametrize("name", DOCUMENTED)
def test_every_model_pii_field_is_masked(name):
    table = vtables.virtual_tables()[name]
    for column_name, kind in _model_pii(table).items():
        assert table.column(column_name).pii == kind, f"{name}.{column_name} must be masked"


def test_unmasked_selects_are_used_only_when_revealing():
    masked = vtables.select_sql("call_legs", vendor="postgresql", reveal=False)
    revealed = vtables.select_sql("call_legs", vendor="postgresql", reveal=True)
    assert '"t0"."ani" AS "ani"' not in masked
    assert "regexp_replace" in masked
    assert '"t0"."ani" AS "ani"' in revealed
