"""django-tables2 columns that mask PII through the request's masker."""

from __future__ import annotations

import django_tables2 as tables

from cdrweb import masking


class MaskedColumn(tables.Column):
    def __init__(self, *args, kind: masking.PiiKind | str, **kwargs):
        self.kind = masking.PiiKind(kind)
        super().__init__(*args, **kwargs)

    def render(self, value, table=None, **kwargs):
        request = getattr(table, "request", None)
        masker = masking.masker_for(request) if request is not None else masking.MASKED
        return masker(value, self.kind)

    def value(self, value, table=None, **kwargs):  # used by table exports
        return self.render(value, table=table)
