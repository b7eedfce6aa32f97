"""A loopback Voiso simulator for tests and the demo (run it with ``manage.py voiso_sandbox``)."""
