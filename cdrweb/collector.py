"""Pause Python's cycle collector around bulk row building.

Building a batch of rows (a carrier file's chunk, an extraction page's flattened records) creates
tens of thousands of containers the collector tracks. Each allocation burst sets it off again and
again, rescanning the rows still alive (and, on full collections, every object Django and pandas
loaded): about 40% of a carrier chunk's reading time and a third of an extraction's CPU time. The rows
form no cycles; they are freed by reference counting when the batch is done. The pause lasts one
batch, so cycles made elsewhere (tracebacks, querysets) are still collected between batches.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Process-wide, so restored only by whoever paused it (a nested or concurrent pause is a no-op)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
