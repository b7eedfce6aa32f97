import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_production_settings_pass_check_deploy(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "cdrweb.settings",
        "SECRET_KEY": "x" * 30 + "-production-secret-key-with-enough-entropy-1234567890",
        "FIELD_ENCRYPTION_KEYS": "Y2Ryd2ViLWRldi1rZXktbmV2ZXItcHJvZHVjdGlvbiE=",
        "DEBUG": "false",
        "SECURE_HTTPS": "true",
        "ALLOWED_HOSTS": "cdrweb.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CDRWEB_TESTING": "false",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_missing_secret_key_is_a_clear_error(tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "DEBUG": "false", "CDRWEB_TESTING": "false",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "SECRET_KEY": "", "FIELD_ENCRYPTION_KEYS": ""}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_without_redis_the_processes_share_a_file_cache(tmp_path):
    """gunicorn workers and qcluster are separate processes: a per-process cache would make every
    worker build the same dashboard view again."""
    env = {"PATH": os.environ.get("PATH", ""), "DEBUG": "true", "CDRWEB_TESTING": "false",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "CACHE_DIR": str(tmp_path / "cache")}
    code = "from django.conf import settings; c = settings.CACHES['default']; print(c['BACKEND'], c['LOCATION'])"
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == [
        "django.core.cache.backends.filebased.FileBasedCache", str(tmp_path / "cache")]
