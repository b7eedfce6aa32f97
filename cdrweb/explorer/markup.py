"""Helpers for HTML drawn in Python (the explorer's rows, the filter selects, the top calls)."""

from __future__ import annotations

import html
from typing import Any

from django.urls import reverse
from django.utils.functional import Promise


def esc(value: Any) -> str:
    """What django.utils.html.conditional_escape returns, without the lazy-string wrapper around
    its escape(), which cost more than the escaping itself over the hundreds of cells of a page."""
    if isinstance(value, Promise):
        value = str(value)
    return value.__html__() if hasattr(value, "__html__") else html.escape(str(value))


def call_detail_prefix() -> str:
    """The call detail URL without its id (``…/<pk>/`` is this plus ``f"{pk}/"``): reversed once
    per page instead of once per row."""
    return reverse("calls:detail", args=[0])[: -len("0/")]
