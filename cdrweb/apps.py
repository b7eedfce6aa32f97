from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, using="default", **kwargs):
    from django.contrib.auth.models import Group, Permission

    from cdrweb.roles import sync_role_groups

    sync_role_groups(Group.objects.db_manager(using).model, Permission)


class CdrwebConfig(AppConfig):
    name = "cdrweb"
    verbose_name = "cdrweb"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # After every migrate (including the test database): roles get any new permissions.
        post_migrate.connect(_sync_roles, dispatch_uid="cdrweb.sync_roles")
        # contrib.admin (listed first) has autodiscovered every admin module by now.
        from cdrweb.admin import mask_registered_admins

        mask_registered_admins()
        # cached permissions go stale on any change to groups, permissions or users
        from cdrweb import access
        from cdrweb.explorer import filters

        access.connect_signals()
        # the filter bar's connection and carrier lists are cached until one of them changes
        filters.connect_signals()
