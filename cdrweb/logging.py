"""Logging filter: every log record's message passes through the PII masking layer."""

from __future__ import annotations

import logging

from cdrweb.masking import scrub


class MaskPiiFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            return True
        record.msg = scrub(message)
        record.args = ()
        return True
