"""Serve plotly.js from the installed plotly wheel as ``vendor/plotly.min.js`` (no CDN, no npm)."""

from __future__ import annotations

from pathlib import Path

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

_PACKAGE_DATA = Path(plotly.__file__).parent / "package_data"
_FILES = {"vendor/plotly.min.js": "plotly.min.js"}


class PlotlyFinder(BaseFinder):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=str(_PACKAGE_DATA))
        self.storage.prefix = "vendor"

    def check(self, **kwargs):
        return []

    def find(self, path, find_all=False, **kwargs):
        name = _FILES.get(path)
        if name is None:
            return [] if find_all else None
        full = str(_PACKAGE_DATA / name)
        return [full] if find_all else full

    def list(self, ignore_patterns):
        for name in _FILES.values():
            yield name, self.storage
