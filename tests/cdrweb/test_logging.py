import logging

from cdrweb.logging import MaskPiiFilter


def test_log_records_are_scrubbed():
    args = ("+14155550188", "a@b.example")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "calling %s for %s", args, None)
    assert MaskPiiFilter().filter(record)
    assert record.getMessage() == "calling ***0188 for ***@b.example"


def test_configured_handlers_mask(caplog):
    logger = logging.getLogger("cdrweb.test")
    handler = logging.getLogger().handlers[0]
    assert any(isinstance(f, MaskPiiFilter) for f in handler.filters)
    logger.info("number +447911123456")
