"""A loopback RingCX simulator for tests and the demo (run it with ``manage.py engage_sandbox``)."""
