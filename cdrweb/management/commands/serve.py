"""Serve the web app and a django-q2 worker together (what `make run` ends with).

Starts gunicorn on 127.0.0.1:8000 (WEB_CONCURRENCY processes) and `qcluster`, plus the local
platform sandboxes the demo connections point at. Ctrl-C (or SIGTERM) stops them all; if one
dies, the others are stopped too, so nothing is left half-running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server and a background worker together; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("CDRWEB_BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
        parser.add_argument("--no-worker", action="store_true", help="web only")
        parser.add_argument("--no-sandbox", action="store_true", help="do not start the demo sandboxes")

    def handle(self, *args, bind, web_workers, no_worker, no_sandbox, **options):
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        if not no_worker:
            from cdrweb.schedules import sweep_now

            sweep_now()  # work a killed worker left behind is queued again for the new worker
        commands: dict[str, list[str]] = {
            "web": [
                python, "-m", "gunicorn", "cdrweb.wsgi:application", "--bind", bind,
                "--workers", str(web_workers), "--threads", "4", "--timeout", "120",
                "--access-logfile", "-",
            ],
        }
        if not no_worker:
            commands["worker"] = [python, manage, "qcluster"]
        if not no_sandbox:
            commands.update(self._sandboxes(python, manage))
        procs = {name: subprocess.Popen(cmd, cwd=settings.BASE_DIR) for name, cmd in commands.items()}
        self.stdout.write(f"cdrweb is serving on http://{bind}/ ({', '.join(procs)}); Ctrl-C stops all.")

        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                dead = [name for name, p in procs.items() if p.poll() is not None]
                if dead:
                    self.stderr.write(f"{', '.join(dead)} exited; stopping the rest.")
                    break
                time.sleep(0.5)
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            deadline = time.time() + 15
            for p in procs.values():
                try:
                    p.wait(timeout=max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    p.kill()
        self.stdout.write("stopped.")

    def _sandboxes(self, python: str, manage: str) -> dict[str, list[str]]:
        """Sandboxes the demo connections point at (see cdrweb.demo)."""
        from cdrweb import demo

        return {name: [python, manage, *argv] for name, argv in demo.sandbox_commands().items()}
