"""``manage.py qcluster`` with every carrier-import chunk paced by a fixed pause.

The fault test kills the cluster when the import reaches a chunk; a small test file imports in a
few milliseconds, faster than the test can poll, so without a pause the import may finish before any
kill lands and the test proves nothing. The pause is added here, in the test's own launcher (the
workers are forked from this process and inherit the patch), never in the product.
"""

from __future__ import annotations

import os
import sys
import time

import django


def main() -> None:
    pause = float(os.environ.get("FAULT_CHUNK_PAUSE_SECONDS", "0"))
    django.setup()
    from django.core.management import call_command

    from reconciliation import services

    store_chunk = services._store_chunk

    def paced(*args, **kwargs):
        time.sleep(pause)
        return store_chunk(*args, **kwargs)

    services._store_chunk = paced
    call_command("qcluster", *sys.argv[1:])


if __name__ == "__main__":
    main()
