"""Every payload the sandbox emits, and every body the client sends, conforms to the SDK's models."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import requests

from extraction.platforms.genesys.adapter import job_body, query_body
from extraction.platforms.genesys.sandbox import generator
from tests.extraction.conftest import CALLS_PER_DAY, SEED
from tests.extraction.sdk_schema import problems

SAMPLES = Path("/work/shared/reference/genesys-samples")
JOBS = "/api/v2/analytics/conversations/details/jobs"


class Api:
    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.http = requests.Session()
        token = self.http.post(f"{base_url}/oauth/token", data={"grant_type": "client_credentials"},
                               auth=("id", "secret"), timeout=5).json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {token}"

    def get(self, path, **params):
        return self.http.get(self.base + path, params=params, timeout=5)

    def post(self, path, body):
        return self.http.post(self.base + path, json=body, timeout=5)


def assert_conforms(payload, model):
    found = problems(payload, model)
    assert not found, found[:10]


def test_the_checker_rejects_invented_fields_and_enum_values():
    assert problems({"interval": "a/b", "view": "byInteraction"}, "AsyncConversationQuery") == [
        "$.view: not a field of AsyncConversationQuery"]
    page = {"conversations": [{"conversationId": "x", "participants": [
        {"purpose": "customer", "sessions": [{"mediaType": "telepathy"}]}]}]}
    bad = problems(page, "AnalyticsConversationAsyncQueryResponse")
    assert bad == ["$.conversations[0].participants[0].sessions[0].mediaType: 'telepathy' is not an allowed "
                   "AnalyticsSession.mediaType value"]


@pytest.mark.parametrize("name, model", [
    ("job_results_page1.json", "AnalyticsConversationAsyncQueryResponse"),
    ("job_results_page2_last.json", "AnalyticsConversationAsyncQueryResponse"),
    ("routing_wrapupcodes.json", "WrapupCodeEntityListing"),
    ("job_create_request.json", "AsyncConversationQuery"),
])
def test_the_reference_samples_conform(name, model):
    assert_conforms(json.loads((SAMPLES / name).read_text()), model)


def test_request_bodies_the_client_sends_conform():
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)
    assert_conforms(job_body(start, end), "AsyncConversationQuery")
    assert_conforms(query_body(start, end, 2, 100), "ConversationQuery")


def test_every_sandbox_payload_conforms(sandbox):
    # "Now" in the middle of a call, so an open (in-progress) conversation is among the payloads too.
    record = generator.conversations_for_day(SEED, date(2026, 3, 4), CALLS_PER_DAY)[20]
    start_, end_ = (datetime.fromisoformat(record[k]) for k in ("conversationStart", "conversationEnd"))
    now = start_ + (end_ - start_) / 2
    sandbox.set_now(now)
    sandbox.state.config.availability_lag_seconds = 0
    api = Api(sandbox.base_url)
    interval = f"2026-03-02T00:00:00.000Z/{generator.iso(now)}"

    created = api.post(JOBS, {"interval": interval})
    assert created.status_code == 202
    assert_conforms(created.json(), "AsyncQueryResponse")
    job = created.json()["jobId"]
    states = set()
    for _ in range(3):
        status = api.get(f"{JOBS}/{job}").json()
        assert_conforms(status, "AsyncQueryStatus")
        states.add(status["state"])
    assert {"QUEUED", "FULFILLED"} <= states

    cursor, pages, records, open_ids = None, 0, 0, set()
    while True:
        page = api.get(f"{JOBS}/{job}/results", pageSize=30, **({"cursor": cursor} if cursor else {})).json()
        assert_conforms(page, "AnalyticsConversationAsyncQueryResponse")
        pages, records = pages + 1, records + len(page["conversations"])
        open_ids |= {c["conversationId"] for c in page["conversations"] if "conversationEnd" not in c}
        cursor = page.get("cursor")
        if not cursor:
            break
    assert pages > 2 and records > 60
    assert record["conversationId"] in open_ids

    sandbox.set_faults(fail_jobs=1, expire_jobs=1)
    failed = api.post(JOBS, {"interval": interval}).json()["jobId"]
    expired = api.post(JOBS, {"interval": interval}).json()["jobId"]
    for job_id in (failed, expired):
        api.get(f"{JOBS}/{job_id}"), api.get(f"{JOBS}/{job_id}")
    api.get(f"{JOBS}/{expired}/results")
    for job_id, state in ((failed, "FAILED"), (expired, "EXPIRED")):
        status = api.get(f"{JOBS}/{job_id}").json()
        assert status["state"] == state
        assert_conforms(status, "AsyncQueryStatus")

    query = api.post("/api/v2/analytics/conversations/details/query",
                     query_body(datetime(2026, 3, 4, tzinfo=UTC), now, 1, 50)).json()
    assert query["conversations"] and query["totalHits"] >= len(query["conversations"])
    assert_conforms(query, "AnalyticsConversationQueryResponse")
    ids = [c["conversationId"] for c in query["conversations"][:3]]
    assert_conforms(api.get("/api/v2/analytics/conversations/details", id=",".join(ids)).json(),
                    "AnalyticsConversationWithoutAttributesMultiGetResponse")
    assert_conforms(api.get(f"/api/v2/analytics/conversations/{ids[0]}/details").json(),
                    "AnalyticsConversationWithoutAttributes")
    assert_conforms(api.get(f"{JOBS}/availability").json(), "DataAvailabilityResponse")
    assert_conforms(api.get("/api/v2/routing/wrapupcodes", pageSize=2, pageNumber=1).json(), "WrapupCodeEntityListing")
    assert_conforms(api.get("/api/v2/routing/queues").json(), "QueueEntityListing")
    assert_conforms(api.get("/api/v2/organizations/limits/namespaces/analytics").json(), "LimitsEntityListing")

    errors = [api.post(JOBS, {"interval": "garbage"}), api.get(f"{JOBS}/no-such-job"),
              requests.get(sandbox.base_url + "/api/v2/routing/queues", timeout=5)]
    sandbox.set_faults(rate_limit=1)
    errors.append(api.get("/api/v2/routing/queues"))
    assert [e.status_code for e in errors] == [400, 404, 401, 429]
    assert errors[-1].headers["Retry-After"] == "0"
    for response in errors:
        assert_conforms(response.json(), "ErrorBody")
