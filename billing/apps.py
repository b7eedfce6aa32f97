from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.receivers import rate_extracted_legs
        from extraction.signals import legs_extracted

        legs_extracted.connect(rate_extracted_legs, dispatch_uid="billing.rate_extracted_legs")
