"""Model fields shared by the apps."""

from __future__ import annotations

from django.db import models

from cdrweb import crypto


class EncryptedTextField(models.TextField):
    """A secret stored as a Fernet token; Python code sees plaintext, the database never does.

    Never render its value: forms use a write-only PasswordInput (blank means keep).
    """

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return crypto.encrypt(value)
