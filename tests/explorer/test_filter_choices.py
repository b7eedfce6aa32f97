"""The filter bar's connection and carrier selects: every row by name, both lists in one query."""

from __future__ import annotations

import pytest

from cdrweb.explorer.filters import CallLegFilter
from extraction.models import CallLeg
from tests.explorer.factories import CarrierFactory, ConnectionFactory


@pytest.mark.django_db
def test_both_selects_list_every_row_by_name_from_one_query(django_assert_num_queries):
    beta, alpha = ConnectionFactory(name="Beta"), ConnectionFactory(name="Alpha")
    b, a = CarrierFactory(name="Carrier B"), CarrierFactory(name="Carrier A")
    filterset = CallLegFilter({"carrier": str(b.pk)}, queryset=CallLeg.objects.all())
    assert filterset.is_valid()
    form = filterset.form
    with django_assert_num_queries(1):
        connections, carriers = str(form["connection"]), str(form["carrier"])
    assert connections == (
        '<select name="connection" id="id_connection"><option value="" selected>---------</option>'
        f'<option value="{alpha.pk}">Alpha</option><option value="{beta.pk}">Beta</option></select>'
    )
    assert carriers == (
        '<select name="carrier" id="id_carrier"><option value="">---------</option>'
        f'<option value="{a.pk}">Carrier A</option><option value="{b.pk}" selected>Carrier B</option></select>'
    )


@pytest.mark.django_db
def test_a_new_carrier_shows_on_the_next_form():
    CarrierFactory(name="Carrier A")
    first = CallLegFilter({}, queryset=CallLeg.objects.all())
    assert "Carrier A" in str(first.form["carrier"])
    CarrierFactory(name="Carrier Z")
    assert "Carrier Z" in str(CallLegFilter({}, queryset=CallLeg.objects.all()).form["carrier"])
