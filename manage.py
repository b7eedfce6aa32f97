#!/usr/bin/env python
"""Django's command-line utility for cdrweb."""

import os
import sys

# One BLAS thread per process: our workers parallelise by process; BLAS threads only contend.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdrweb.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
