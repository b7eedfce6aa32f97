import pytest
from django.contrib.auth.models import Group

from cdrweb import roles


@pytest.mark.django_db
def test_every_database_has_the_four_roles():
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.ROLES)


@pytest.mark.django_db
def test_role_permissions(admin_user_role, analyst, viewer, auditor):
    assert admin_user_role.has_perm("extraction.change_connection")
    assert admin_user_role.has_perm("auth.change_user")
    assert not viewer.has_perm("extraction.view_connection")
    assert viewer.has_perm("extraction.view_callleg") and viewer.has_perm("cdrweb.view_dashboard")
    assert not viewer.has_perm("cdrweb.reveal_pii") and not viewer.has_perm("cdrweb.use_sql_console")
    assert analyst.has_perm("cdrweb.use_sql_console") and not analyst.has_perm("cdrweb.reveal_pii")
    assert not analyst.has_perm("billing.change_ratecard")
    assert auditor.has_perm("cdrweb.reveal_pii") and auditor.has_perm("cdrweb.view_auditentry")
    assert auditor.has_perm("extraction.view_connection")
    auditor_changes = [p for p in auditor.get_all_permissions() if not p.split(".")[1].startswith("view_")]
    assert set(auditor_changes) <= {"cdrweb.reveal_pii", "cdrweb.use_sql_console", "cdrweb.export_data"}


def test_permissions_for_unknown_role_raises():
    with pytest.raises(ValueError):
        roles.permissions_for("Janitor", [])


@pytest.mark.django_db
def test_role_of(analyst, no_role_user):
    assert roles.role_of(analyst) == roles.FINANCE_ANALYST
    assert roles.role_of(no_role_user) is None
