"""Create (or update) a user with one of the roles, from the command line.

    python manage.py create_user alice --role administrator --email alice@example.com
The password is read from the environment variable named by --password-env, or prompted
for, never taken from argv.
"""

from __future__ import annotations

import getpass
import os

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cdrweb import audit
from cdrweb.roles import ADMINISTRATOR, ROLE_SLUGS


class Command(BaseCommand):
    help = "Create or update a user with a role (administrator, analyst, viewer, auditor)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=sorted(ROLE_SLUGS))
        parser.add_argument("--email", default="")
        parser.add_argument("--password-env", default="", help="read the password from this variable")
        parser.add_argument("--no-password", action="store_true", help="create with an unusable password")

    def handle(self, *args, username, role, email, password_env, no_password, **options):
        password = self._password(password_env, no_password)
        role_name = ROLE_SLUGS[role]
        User = get_user_model()
        with transaction.atomic():
            user, created = User.objects.get_or_create(username=username, defaults={"email": email})
            if email:
                user.email = email
            if password:
                user.set_password(password)
            elif created:
                user.set_unusable_password()
            user.is_staff = role_name == ADMINISTRATOR
            user.save()
            user.groups.set([Group.objects.get(name=role_name)])
            audit.record(
                actor="create_user",
                action="user.create" if created else "user.update",
                obj=user,
                summary=f"{'Created' if created else 'Updated'} user {username} with role {role_name}",
            )
        self.stdout.write(f"{'created' if created else 'updated'} {username} ({role_name})")

    def _password(self, password_env: str, no_password: bool) -> str:
        if no_password:
            return ""
        if password_env:
            value = os.environ.get(password_env, "")
            if not value:
                raise CommandError(f"environment variable {password_env} is empty or unset")
            return value
        if not os.isatty(0):
            value = os.sys.stdin.readline().strip()
            if value:
                return value
            raise CommandError("no password given: use --password-env VAR, stdin, or --no-password")
        value = getpass.getpass("Password: ")
        if value != getpass.getpass("Password (again): "):
            raise CommandError("passwords do not match")
        return value
