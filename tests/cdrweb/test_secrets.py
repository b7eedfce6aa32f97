import pytest
from django.db import connection

from cdrweb import crypto
from extraction.models import Connection


@pytest.mark.django_db
def test_connection_secret_is_encrypted_at_rest():
    conn = Connection.objects.create(
        name="g", region="mypurecloud.ie", client_id="cid", client_secret="top-secret-value"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM extraction_connection WHERE id = %s", [conn.pk])
        raw = cursor.fetchone()[0]
    assert "top-secret-value" not in raw
    assert crypto.decrypt(raw) == "top-secret-value"
    assert Connection.objects.get(pk=conn.pk).client_secret == "top-secret-value"


def test_key_rotation(settings):
    old = crypto.generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    token = crypto.encrypt("s")
    new = crypto.generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    rotated = crypto.rotate(token)
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert crypto.decrypt(rotated) == "s"
    with pytest.raises(crypto.SecretDecryptionError):
        crypto.decrypt(token)


@pytest.mark.django_db
def test_rotate_secrets_command(settings):
    from django.core.management import call_command

    old = crypto.generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    conn = Connection.objects.create(name="r", client_secret="rotate-me")
    new = crypto.generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_secrets")
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert Connection.objects.get(pk=conn.pk).client_secret == "rotate-me"


def test_the_development_fallback_key_is_a_usable_fernet_key():
    """A fresh checkout has no .env: the fallback must encrypt, or every secret save fails."""
    from cryptography.fernet import Fernet
    from django.conf import settings as django_settings

    fernet = Fernet(django_settings.DEVELOPMENT_ENCRYPTION_KEY.encode())
    assert fernet.decrypt(fernet.encrypt(b"x")) == b"x"
