"""django-q2 tasks for forecasts: thin wrappers taking ids."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from cdrweb.forecast import services
from cdrweb.forecast.models import ForecastRun, HandoffTarget


def run_forecast_task(run_id: int) -> None:
    """Compute a forecast run; a duplicate delivery exits at once (lease), a rerun skips stored codes."""
    services.execute_forecast_run(run_id=run_id)


def send_forecast_task(run_id: int, target_id: int, user_id: int | None) -> None:
    """Send one finished run to one hand-off target; the outcome goes to the audit log."""
    run = ForecastRun.objects.get(pk=run_id)
    target = HandoffTarget.objects.get(pk=target_id)
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    services.send_forecast(run=run, target=target, actor=user or "system")


def resume_stalled_forecasts_task() -> int:
    """Sweeper: re-enqueue runs whose worker died (lease expired)."""
    return services.resume_stalled_runs()
