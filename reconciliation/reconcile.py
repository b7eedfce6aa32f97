"""The reconciliation engine for one run: set-based matching, flags, money at stake, cause hints.

1. Duplicates: carrier rows sharing a Call-ID (else record id, else the call's own fields) are one
   call billed several times; the first row (lowest id) is the original, the others double_billed.
   Ranked in SQL with a window function.
2. Exact: one SQL join on the Call-ID keys stored and indexed at import (``sip_call_id_local`` on
   both sides; the full Call-ID decides exact vs local_part), never on expressions. The pairs stay
   in a scratch table; only those sharing a row or a leg with another pair come to Python.
3. Fuzzy: rows vs legs the exact join left over, on (direction, far-end E.164), start within the
   carrier's window, duration close; scored, then assigned mutually-best-first (one-to-one).
4. Flags on matched pairs (pre-filtered in SQL), phantoms (carrier rows left over) and unbilled
   legs (ours left over). Matches are stored with one ``INSERT … SELECT``.

The SQL half lives in ``reconcile_sql``; there is no query per row.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from billing.models import Rate
from billing.rating import billable_seconds
from cdrweb.db import defer_commit_flush
from extraction.models import CallLeg
from reconciliation import reconcile_sql as sql
from reconciliation import store
from reconciliation.models import (
    CarrierCdr,
    CarrierUpload,
    Cause,
    Discrepancy,
    DiscrepancyType,
    MatchMethod,
    ReconciliationRun,
)
from reconciliation.preview import detect_offset_minutes

logger = logging.getLogger(__name__)

CDR_COLUMNS = [
    "id", "sip_call_id", "sip_call_id_local", "record_id", "start_utc", "start_ambiguous", "duration_seconds",
    "billed_seconds", "charge", "rate_per_minute", "currency", "from_e164", "to_e164", "direction",
    "is_forwarded", "is_credit",
]
LEG_FIELDS = {
    "leg_id": "id", "leg_sip": "sip_call_id", "leg_direction": "direction", "ani_e164": "ani_e164",
    "dnis_e164": "dnis_e164", "started_at": "started_at", "connected_at": "connected_at",
    "duration_ms": "duration_ms", "conversation_id": "conversation__conversation_id",
    "external_call_id": "external_call_id", "leg_carrier_id": "cost_record__carrier_id",
    "cost_status": "cost_record__status", "expected_billable": "cost_record__billable_seconds",
    "expected_cost": "cost_record__cost", "cost_currency": "cost_record__currency",
    "card_rate": "cost_record__rate__rate_per_minute", "rate_prefix": "cost_record__rate__prefix",
    "rate_direction": "cost_record__rate__direction", "rate_card_id": "cost_record__rate_card_id",
    "inc_first": "cost_record__rate__increment_first", "inc_next": "cost_record__rate__increment_next",
    "card_first": "cost_record__rate_card__default_increment_first",
    "card_next": "cost_record__rate_card__default_increment_next",
}
# Increment rules a carrier may bill by (rating.md §2, platforms-and-carriers.md §3.4).
KNOWN_INCREMENTS = [(60, 60), (60, 6), (30, 6), (6, 6), (1, 1), (60, 1), (30, 30)]
RATE_RELATIVE_TOLERANCE = Decimal("0.01")
EXACT_SCORE, LOCAL_SCORE = 1.0, 0.95


def execute(run: ReconciliationRun) -> None:
    """Compute and store the run's matches, discrepancies and summary (one write transaction)."""
    carrier = run.carrier
    tol_s, tol_money = carrier.duration_tolerance_seconds, Decimal(carrier.cost_tolerance)
    sql.drop_scratch()  # a run that died on this connection may have left its tables
    sql.tune_session()
    try:
        _progress(run, 5, "loading carrier rows and platform legs")
        sql.rank_calls(run)
        sql.window_legs(run)
        credit_rows = read_cdrs(run_cdrs(run).filter(is_credit=True))
        credits = _credits_by_key(credit_rows)
        sql.credit_keys(credits)
        _progress(run, 25, "matching on SIP Call-ID")
        sql.exact_pairs(run, tol_s, tol_money)
        sql.add_matches(_match_rows(assign(contested_candidates())), tol_s, tol_money)
        sql.free_rows(run)
        _progress(run, 50, "fuzzy matching on numbers, time and duration")
        # One read per table for every row Python looks at: the rows left over, the matched pairs
        # that may be flagged (the fuzzy ones are among the rows left over) and the duplicates.
        cdrs = read_cdrs(CarrierCdr.objects.filter(pk__in=sql.cdrs_to_read()))
        legs = read_legs(CallLeg.objects.filter(pk__in=sql.legs_to_read()))
        free_cdrs = _subset(cdrs, "id", sql.ids("rc_free_cdr"))
        free_legs = _subset(legs, "leg_id", sql.ids("rc_free_leg"))
        fuzzy = assign(fuzzy_candidates(carrier, free_cdrs, free_legs, run))
        sql.add_matches(_match_rows(fuzzy), tol_s, tol_money)
        _progress(run, 75, "flagging discrepancies")
        rows, summary = flag(run, free_cdrs, free_legs, fuzzy, credit_rows, credits, cdrs, legs)
        _progress(run, 90, "saving results")
        _save(run, rows, summary)
    finally:
        try:
            sql.drop_scratch()
            sql.reset_session()
        except DatabaseError:  # the connection is unusable (an aborted transaction): the error above counts
            logger.warning("run %s: scratch tables not dropped", run.pk)


def _subset(frame: pd.DataFrame, column: str, ids: list[int]) -> pd.DataFrame:
    return frame[frame[column].isin(ids)].reset_index(drop=True)


def _progress(run: ReconciliationRun, percent: int, label: str) -> None:
    ReconciliationRun.objects.filter(pk=run.pk).update(progress_percent=percent, progress_label=label)


# --- loading ------------------------------------------------------------------------------


def run_cdrs(run: ReconciliationRun) -> QuerySet[CarrierCdr]:
    """The run's carrier rows: this carrier, imported uploads, start in the period (credits too)."""
    return CarrierCdr.objects.filter(
        carrier=run.carrier, upload__status=CarrierUpload.Status.IMPORTED,
        start_utc__gte=run.period_start, start_utc__lt=run.period_end,
    )


def read_cdrs(queryset: QuerySet[CarrierCdr]) -> pd.DataFrame:
    """Carrier rows as a frame of ``CDR_COLUMNS`` (Decimal money, UTC times), ordered by id."""
    frame = store.read_values(queryset.values_list(*CDR_COLUMNS), CDR_COLUMNS)
    frame["id"] = store.as_number(frame["id"]).astype("int64")
    frame["start_utc"] = store.as_utc(frame["start_utc"])
    for column in ("duration_seconds", "billed_seconds"):
        frame[column] = store.as_number(frame[column])
    for column in ("is_credit", "is_forwarded", "start_ambiguous"):
        frame[column] = store.as_bool(frame[column])
    for column in ("charge", "rate_per_minute"):
        frame[column] = store.as_money(frame[column])
    for column in ("sip_call_id", "sip_call_id_local", "record_id", "currency", "from_e164", "to_e164", "direction"):
        frame[column] = store.as_text(frame[column])
    return frame.sort_values("id", ignore_index=True)


def read_legs(queryset: QuerySet[CallLeg]) -> pd.DataFrame:
    """Legs with their cost record and rate as a frame of ``LEG_FIELDS``, ordered by leg id."""
    frame = store.read_values(queryset.values_list(*LEG_FIELDS.values()), list(LEG_FIELDS))
    frame["leg_id"] = store.as_number(frame["leg_id"]).astype("int64")
    frame["started_at"] = store.as_utc(frame["started_at"])
    frame["connected_at"] = store.as_utc(frame["connected_at"])
    frame["leg_start"] = frame["connected_at"].where(frame["connected_at"].notna(), frame["started_at"])
    frame["duration_ms"] = store.as_number(frame["duration_ms"]).fillna(0)
    for column in ("expected_billable", "leg_carrier_id", "rate_card_id", "inc_first", "inc_next", "card_first",
                   "card_next"):
        frame[column] = store.as_number(frame[column])
    for column in ("expected_cost", "card_rate"):
        frame[column] = store.as_money(frame[column])
    for column in ("leg_sip", "leg_direction", "ani_e164", "dnis_e164", "cost_status", "cost_currency",
                   "rate_prefix", "rate_direction", "conversation_id", "external_call_id"):
        frame[column] = store.as_text(frame[column])
    return frame.sort_values("leg_id", ignore_index=True)


# --- matching -----------------------------------------------------------------------------


def contested_candidates() -> pd.DataFrame:
    """Exact Call-ID pairs that share a carrier row or a leg with another pair, scored for ``assign``.

    Every other exact pair is the only choice of both its sides, so it is accepted in SQL as is.
    """
    found = sql.contested_pairs()
    if not found:
        return _empty_pairs()
    pairs = pd.DataFrame(found, columns=["cdr_id", "leg_id", "method", "cdr_start", "leg_start"])
    pairs["score"] = np.where(pairs["method"] == MatchMethod.EXACT, EXACT_SCORE, LOCAL_SCORE)
    delta = (store.as_utc(pairs["cdr_start"]) - store.as_utc(pairs["leg_start"])).dt.total_seconds().abs()
    pairs["tiebreak"] = delta.fillna(1e9)
    return pairs[["cdr_id", "leg_id", "method", "score", "tiebreak"]]


def _match_rows(pairs: pd.DataFrame) -> list[tuple[int, int, str, Decimal]]:
    return [(int(c), int(leg), str(m), Decimal(str(round(float(s), 4))))
            for c, leg, m, s in zip(pairs["cdr_id"], pairs["leg_id"], pairs["method"], pairs["score"], strict=True)]


def fuzzy_candidates(carrier, calls: pd.DataFrame, legs: pd.DataFrame, run: ReconciliationRun) -> pd.DataFrame:
    """Pairs on (direction, far-end number) within the time window and duration tolerance, scored."""
    if calls.empty or legs.empty:
        return _empty_pairs()
    window = float(carrier.fuzzy_window_seconds)
    eligible = legs[(legs["leg_carrier_id"].isna()) | (legs["leg_carrier_id"] == carrier.pk)].copy()
    eligible["far"] = eligible["dnis_e164"].where(eligible["leg_direction"] == "outbound", eligible["ani_e164"])
    eligible["near"] = eligible["ani_e164"].where(eligible["leg_direction"] == "outbound", eligible["dnis_e164"])
    eligible = eligible[eligible["far"] != ""]
    # A row without a direction (Sinch Voice) is tried both ways.
    parts = []
    for direction in ("outbound", "inbound"):
        side = calls[calls["direction"].isin([direction, ""])].copy()
        side["dir"] = direction
        side["far"] = side["to_e164"] if direction == "outbound" else side["from_e164"]
        side["near"] = side["from_e164"] if direction == "outbound" else side["to_e164"]
        parts.append(side)
    left = pd.concat(parts)
    left = left[left["far"] != ""]
    right = eligible[["leg_id", "leg_direction", "far", "near", "started_at", "leg_start", "duration_ms"]]
    pairs = left.merge(right, left_on=["dir", "far"], right_on=["leg_direction", "far"], suffixes=("", "_leg"))
    if pairs.empty:
        return _empty_pairs()
    to_answer = (pairs["start_utc"] - pairs["leg_start"]).dt.total_seconds()
    to_setup = (pairs["start_utc"] - pairs["started_at"]).dt.total_seconds()
    dt = np.minimum(to_answer.abs(), to_setup.abs())
    # A local time in the repeated DST hour may be an hour off: accept either reading.
    dt = np.where(pairs["start_ambiguous"], np.minimum(dt, (to_answer.abs() - 3600).abs()), dt)
    carrier_seconds = pairs["duration_seconds"].fillna(pairs["billed_seconds"]).fillna(0)
    platform_seconds = pairs["duration_ms"] / 1000.0
    dd = (carrier_seconds - platform_seconds).abs()
    # Covers the carrier's whole-second rounding and answer-vs-setup starts (§3.3); Sinch inbound +4 s.
    tolerance = np.maximum(np.maximum(10.0, carrier.duration_tolerance_seconds), 0.05 * platform_seconds)
    # A carrier billing a call longer than it lasted is exactly what reconciliation must catch, so the
    # same far-end number at the same time still matches when the durations differ more (up to two
    # minutes or half the call); closeness only lowers the score, and the assignment prefers closer pairs.
    gate = np.maximum(np.maximum(tolerance, 120.0), 0.5 * platform_seconds)
    keep = (dt <= window) & (dd <= gate)
    pairs = pairs[keep]
    if pairs.empty:
        return _empty_pairs()
    dt, dd, gate = dt[keep], dd[keep], gate[keep]
    near_differs = (pairs["near"] != "") & (pairs["near_leg"] != "") & (pairs["near"] != pairs["near_leg"])
    score = 1.0 - 0.5 * dt / max(window, 1.0) - 0.4 * dd / gate - 0.1 * near_differs.astype(float)
    out = pd.DataFrame({
        "cdr_id": pairs["id"].to_numpy(), "leg_id": pairs["leg_id"].to_numpy(),
        "method": MatchMethod.FUZZY, "score": np.clip(score.to_numpy(), 0.0, 0.99).round(4),
        "tiebreak": np.asarray(dt),
    })
    return out.drop_duplicates(["cdr_id", "leg_id"])


def _empty_pairs() -> pd.DataFrame:
    return pd.DataFrame({"cdr_id": pd.Series(dtype="int64"), "leg_id": pd.Series(dtype="int64"),
                         "method": pd.Series(dtype=str), "score": pd.Series(dtype=float),
                         "tiebreak": pd.Series(dtype=float)})


def assign(pairs: pd.DataFrame) -> pd.DataFrame:
    """One-to-one assignment: repeatedly accept pairs that are each other's best remaining choice.

    The globally best pair is always mutually best, so every round accepts at least one pair; a
    carrier row never takes a leg that fits another row better (not first-come).
    """
    accepted = []
    remaining = pairs.sort_values(["score", "tiebreak", "cdr_id", "leg_id"], ascending=[False, True, True, True])
    while not remaining.empty:
        best_for_cdr = remaining.drop_duplicates("cdr_id")
        best_for_leg = remaining.drop_duplicates("leg_id")
        mutual = best_for_cdr.merge(best_for_leg[["cdr_id", "leg_id"]], on=["cdr_id", "leg_id"])
        accepted.append(mutual)
        remaining = remaining[~remaining["cdr_id"].isin(mutual["cdr_id"]) & ~remaining["leg_id"].isin(mutual["leg_id"])]
    if not accepted:
        return _empty_pairs()
    return pd.concat(accepted, ignore_index=True)


# --- flags --------------------------------------------------------------------------------


def _dec(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _int_or_none(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return int(value)


def flag(
    run: ReconciliationRun, free_cdrs: pd.DataFrame, free_legs: pd.DataFrame, fuzzy: pd.DataFrame,
    credit_rows: pd.DataFrame, credits: dict[str, Decimal], cdrs: pd.DataFrame, legs: pd.DataFrame,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Discrepancy rows (dicts of Discrepancy fields) and the run summary.

    ``free_cdrs``/``free_legs`` are the originals and eligible legs the exact join left over,
    ``fuzzy`` the pairs the fuzzy pass took from them; every match is in ``rc_match`` by now.
    ``credit_rows`` are the run's credit lines, ``credits`` their charges by Call-ID (else record id).
    ``cdrs``/``legs`` hold at least every row and leg of the pairs in ``rc_flag`` and every copy.
    """
    carrier = run.carrier
    tol_s = carrier.duration_tolerance_seconds
    tol_money = Decimal(carrier.cost_tolerance)
    rates = _other_rates(carrier)
    out: list[dict[str, Any]] = []

    # Matched pairs: only those the SQL pre-filter found may be flagged.
    sql.flag_candidates()
    for r in _flag_pairs(cdrs, legs).itertuples(index=False):
        out.extend(_pair_flags(r, carrier, tol_s, tol_money, credits, rates))

    # Double billing: every copy after the first of one call.
    for r in _copies(cdrs).itertuples(index=False):
        leg_id = _int_or_none(r.leg_id)
        leg = None if leg_id is None else {"expected_billable": r.expected_billable, "duration_ms": r.duration_ms}
        charge = _dec(r.charge)
        out.append(_row(
            DiscrepancyType.DOUBLE_BILLED, Cause.DUPLICATE, f"copy of carrier row #{r.original_id}", r, leg, leg_id,
            r.method if isinstance(r.method, str) else "", amount=charge or Decimal(0), currency=r.currency,
        ))

    # Phantoms: carrier rows billed with no platform call.
    unmatched = free_cdrs[~free_cdrs["id"].isin(fuzzy["cdr_id"])]
    billed = unmatched["charge"].map(lambda v: v is not None and _dec(v) > 0) | (
        unmatched["charge"].isna() & (unmatched["billed_seconds"].fillna(unmatched["duration_seconds"]).fillna(0) > 0)
    )
    phantoms = unmatched[billed.astype(bool)]
    offset = detect_offset_minutes(phantoms) if len(phantoms) >= 3 else None
    for r in phantoms.itertuples(index=False):
        if r.is_forwarded:
            cause, detail = Cause.FORWARDED_LEG, "a forwarded leg billed as its own call"
        elif offset:
            cause, detail = Cause.TIMEZONE_OFFSET, f"file times look shifted by {offset:+d} min against the platform"
        else:
            cause, detail = Cause.MISSING, "no platform leg with this Call-ID or numbers and time"
        out.append(_row(DiscrepancyType.PHANTOM, cause, detail, r, None, None, "",
                        amount=_dec(r.charge) or Decimal(0), currency=r.currency))

    # Unbilled: our rated legs of this carrier in the period that no carrier row matched.
    legs = free_legs
    in_period = (legs["started_at"] >= run.period_start) & (legs["started_at"] < run.period_end)
    ours = legs[in_period & (legs["leg_carrier_id"] == carrier.pk) & (legs["cost_status"] == "rated")]
    ours = ours[~ours["leg_id"].isin(fuzzy["leg_id"])]
    ours = ours[ours["expected_cost"].map(lambda v: v is not None and _dec(v) > 0).astype(bool)]
    for leg in ours.itertuples(index=False):
        expected = _dec(leg.expected_cost)
        out.append({
            "type": DiscrepancyType.UNBILLED, "cause": Cause.MISSING,
            "cause_detail": "the carrier did not bill this leg",
            "carrier_cdr_id": None, "leg_id": int(leg.leg_id), "match_method": "",
            "start_utc": leg.leg_start.to_pydatetime(), "platform_seconds": _whole(leg.duration_ms),
            "expected_billable_seconds": _int_or_none(leg.expected_billable), "carrier_billed_seconds": None,
            "expected_cost": expected, "carrier_charge": None, "amount_at_stake": expected,
            "currency": leg.cost_currency or carrier.currency,
        })

    summary = _summary(run, credit_rows, ours, out, offset)
    return out, summary


def _flag_pairs(cdrs: pd.DataFrame, legs: pd.DataFrame) -> pd.DataFrame:
    """The pre-filtered matched pairs with both sides' columns (carrier row, then leg)."""
    pairs = pd.DataFrame(sql.flag_pairs(), columns=["cdr_id", "leg_id", "method"])
    if pairs.empty:
        return pairs
    cdrs = _subset(cdrs, "id", pairs["cdr_id"])
    legs = _subset(legs, "leg_id", pairs["leg_id"])
    pairs = pairs.sort_values("cdr_id", ignore_index=True)
    return pairs.merge(cdrs, left_on="cdr_id", right_on="id").merge(legs, on="leg_id")


def _copies(cdrs: pd.DataFrame) -> pd.DataFrame:
    """Duplicate carrier rows with their original, its leg and method, and that leg's figures."""
    links = pd.DataFrame(sql.duplicate_links(),
                         columns=["id", "original_id", "leg_id", "method", "expected_billable", "duration_ms"])
    if links.empty:
        return links
    copies = _subset(cdrs, "id", links["id"])
    return copies.merge(links, on="id").sort_values("id", ignore_index=True)


def _pair_flags(r, carrier, tol_s, tol_money, credits, rates) -> list[dict[str, Any]]:
    expected_billable = _int_or_none(r.expected_billable)
    carrier_billed = _int_or_none(r.billed_seconds)
    if carrier_billed is None:
        carrier_billed = _int_or_none(r.duration_seconds)
    charge = _dec(r.charge)
    expected = _dec(r.expected_cost) if r.cost_status == "rated" else None
    if expected is not None and r.currency and r.cost_currency and r.currency != r.cost_currency:
        expected = None  # a EUR charge is not compared with a USD card; seconds are still compared
    credit = credits.get(r.sip_call_id or r.record_id) if (r.sip_call_id or r.record_id) else None
    net = charge + credit if charge is not None and credit is not None else charge
    platform_s = _whole(r.duration_ms)
    leg = r
    kind = None
    cause, detail = "", ""
    if expected_billable is not None and carrier_billed is not None and abs(carrier_billed - expected_billable) > tol_s:
        kind = DiscrepancyType.DURATION_MISMATCH
        cause, detail = _duration_cause(r, carrier_billed, expected_billable, platform_s, tol_s)
    elif charge is not None and expected is not None and abs(charge - expected) > tol_money:
        card_rate = _dec(r.card_rate)
        stated = _dec(r.rate_per_minute)
        implied = (charge * 60 / carrier_billed) if charge is not None and carrier_billed else None
        if card_rate is not None and stated is not None:
            rate_differs = abs(stated - card_rate) > Decimal("0.0000005")
            carrier_rate = stated
        elif card_rate and implied is not None:
            rate_differs = abs(implied - card_rate) / card_rate > RATE_RELATIVE_TOLERANCE
            carrier_rate = implied
        else:
            rate_differs, carrier_rate = False, None
        if rate_differs:
            kind = DiscrepancyType.RATE_MISMATCH
            cause, detail = _rate_cause(r, carrier_rate, card_rate, rates)
        else:
            kind = DiscrepancyType.COST_MISMATCH
            cause, detail = Cause.ROUNDING_OR_FEES, "same seconds and rate; fees, minimums or rounding differ"
    if kind is None:
        return []
    if credit is not None and net is not None and expected is not None and abs(net - expected) <= tol_money:
        return []  # a credit line already brought the charge back to what we expected
    if credit is not None:
        cause, detail = Cause.CREDIT_LINE, f"a credit of {credit} already offsets part of this charge; " + detail
    if charge is None:
        cause, detail = Cause.NOT_RATED_YET, "the carrier has not priced this call yet"
    amount = (net - expected) if net is not None and expected is not None else Decimal(0)
    return [_row(kind, cause, detail[:300], r, leg, int(r.leg_id), r.method, amount=amount,
                 currency=r.currency or r.cost_currency or carrier.currency, expected=expected,
                 expected_billable=expected_billable, carrier_billed=carrier_billed, platform_s=platform_s)]


def _duration_cause(r, carrier_billed: int, expected_billable: int, platform_s: int, tol_s: int) -> tuple[str, str]:
    ours = (
        _int_or_none(r.inc_first) or _int_or_none(r.card_first),
        _int_or_none(r.inc_next) or _int_or_none(r.card_next),
    )
    for first, nxt in KNOWN_INCREMENTS:
        if (first, nxt) == ours:
            continue
        if billable_seconds(platform_s, first, nxt) == carrier_billed:
            return Cause.INCREMENT_MODEL, (
                f"carrier rounds {first}/{nxt} where the card says {ours[0]}/{ours[1]} "
                f"({platform_s} s → {carrier_billed} s, card {expected_billable} s)"
            )
    carrier_talk = _int_or_none(r.duration_seconds)
    if carrier_talk is not None and abs(carrier_talk - platform_s) > tol_s:
        return Cause.CALL_LENGTH, f"carrier measured {carrier_talk} s, the platform {platform_s} s"
    return Cause.INCREMENT_MODEL, (
        f"carrier billed {carrier_billed} s for {platform_s} s; card gives {expected_billable} s"
    )


def _rate_cause(r, carrier_rate: Decimal | None, card_rate: Decimal | None, rates) -> tuple[str, str]:
    if carrier_rate is not None:
        for version, rate in rates.get((r.rate_prefix, r.rate_direction), []):
            if r.rate_card_id is not None and version[0] == r.rate_card_id:
                continue
            if abs(rate - carrier_rate) <= max(Decimal("0.0000005"), rate * Decimal("0.001")):
                return Cause.RATE_CARD_VERSION, (
                    f"carrier used {rate}/min from card version {version[1]}; ours is {card_rate}/min"
                )
    shown = carrier_rate.quantize(Decimal("0.000001")) if carrier_rate is not None else "?"
    return Cause.RATE, f"carrier rate {shown}/min vs card {card_rate}/min"


def _other_rates(carrier) -> dict[tuple[str, str], list[tuple[tuple[int, int], Decimal]]]:
    out: dict[tuple[str, str], list] = {}
    for card_id, version, prefix, direction, rate in Rate.objects.filter(rate_card__carrier=carrier).values_list(
        "rate_card_id", "rate_card__version", "prefix", "direction", "rate_per_minute"
    ):
        out.setdefault((prefix, direction), []).append(((card_id, version), rate))
    return out


def _credits_by_key(cdrs: pd.DataFrame) -> dict[str, Decimal]:
    credits = cdrs[cdrs["is_credit"]]
    out: dict[str, Decimal] = {}
    for sip, record, charge in zip(credits["sip_call_id"], credits["record_id"], credits["charge"], strict=True):
        key = sip or record
        if key and charge is not None:
            out[key] = out.get(key, Decimal(0)) + _dec(charge)
    return out


def _whole(ms: Any) -> int:
    # Platform talk time in whole seconds, rounded up like billing's default rule (rating.md §2 step A).
    return -(-int(ms or 0) // 1000)


def _row(kind, cause, detail, r, leg, leg_id, method, *, amount, currency, expected=None,
         expected_billable=None, carrier_billed=None, platform_s=None) -> dict[str, Any]:
    if leg is not None and expected is None and kind == DiscrepancyType.DOUBLE_BILLED:
        expected_billable = _int_or_none(leg["expected_billable"])
        platform_s = _whole(leg["duration_ms"])
    if carrier_billed is None:
        carrier_billed = _int_or_none(r.billed_seconds)
        if carrier_billed is None:
            carrier_billed = _int_or_none(r.duration_seconds)
    return {
        "type": kind, "cause": cause, "cause_detail": detail[:300], "carrier_cdr_id": int(r.id),
        "leg_id": int(leg_id) if leg_id is not None else None, "match_method": method or "",
        "start_utc": r.start_utc.to_pydatetime(), "platform_seconds": platform_s,
        "expected_billable_seconds": expected_billable, "carrier_billed_seconds": carrier_billed,
        "expected_cost": expected, "carrier_charge": _dec(r.charge), "amount_at_stake": amount,
        "currency": (currency or "")[:3],
    }


def _summary(run, credit_rows, unbilled, rows, offset) -> dict[str, Any]:
    by_type: dict[str, dict[str, Any]] = {t.value: {"count": 0, "amount": Decimal(0)} for t in DiscrepancyType}
    for row in rows:
        by_type[row["type"]]["count"] += 1
        by_type[row["type"]]["amount"] += row["amount_at_stake"] or Decimal(0)
    counted = sql.counts()
    billed = sql.billed_total(run_cdrs(run).filter(is_credit=False))
    credits = sum((_dec(v) for v in credit_rows["charge"] if v is not None), Decimal(0))
    # Matched legs and unbilled legs never overlap (each leg is matched at most once).
    expected = counted["matched_expected"] + sum(
        (_dec(v) for v, s in zip(unbilled["expected_cost"], unbilled["cost_status"], strict=True)
         if v is not None and s == "rated"), Decimal(0))
    platform_legs = sql.platform_legs(run)
    return {
        "carrier_rows": counted["carrier_rows"],
        "credit_rows": int(len(credit_rows)),
        "duplicates": counted["duplicates"],
        "matched": counted["matched"],
        "matched_unrated_legs": counted["matched_unrated_legs"],
        "platform_legs": platform_legs,
        "billed_total": billed,
        "expected_total": expected,
        "credits_total": credits,
        "by_type": by_type,
        "overbilled_total": sum((v["amount"] for k, v in by_type.items() if k != DiscrepancyType.UNBILLED), Decimal(0)),
        "suggested_offset_minutes": offset,
    }


# --- saving -------------------------------------------------------------------------------

_UPDATE_FIELDS = [
    "type", "cause", "cause_detail", "carrier_cdr", "leg", "match_method", "start_utc", "platform_seconds",
    "expected_billable_seconds", "carrier_billed_seconds", "expected_cost", "carrier_charge",
    "amount_at_stake", "currency", "superseded",
]


def _save(run: ReconciliationRun, rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    methods = summary["matched"]
    with transaction.atomic():
        defer_commit_flush()  # the results commit with the run's status: a lost commit means a re-run
        matched = sql.save_matches(run)
        # Upsert on (run, key) keeps each discrepancy's status, assignee and notes across re-runs;
        # those no longer found are deleted when untouched, else kept and marked superseded.
        Discrepancy.objects.filter(run=run).update(superseded=True)
        _upsert_discrepancies(run, rows)
        Discrepancy.objects.filter(
            run=run, superseded=True, status=Discrepancy.Status.OPEN, notes__isnull=True
        ).delete()
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=ReconciliationRun.Status.DONE, progress_percent=100, progress_label="done",
            carrier_rows=summary["carrier_rows"], platform_legs=summary["platform_legs"],
            matched_exact=methods.get(MatchMethod.EXACT, 0), matched_local_part=methods.get(MatchMethod.LOCAL_PART, 0),
            matched_fuzzy=methods.get(MatchMethod.FUZZY, 0), discrepancy_count=len(rows),
            billed_total=summary["billed_total"], expected_total=summary["expected_total"],
            credits_total=summary["credits_total"], summary=_jsonable(summary), finished_at=timezone.now(),
        )
    logger.info("run %s: %s matches, %s discrepancies", run.pk, matched, len(rows))


def _discrepancy_key(row: dict[str, Any]) -> str:
    return f"{row['type']}:{row['carrier_cdr_id'] or ''}:{row['leg_id'] or ''}"


def _upsert_discrepancies(run: ReconciliationRun, rows: list[dict[str, Any]]) -> None:
    """Insert or update the run's discrepancies on (run, key), updating only ``_UPDATE_FIELDS``."""
    if connection.vendor != "postgresql":
        Discrepancy.objects.bulk_create(
            [Discrepancy(run_id=run.pk, key=_discrepancy_key(row), superseded=False, **row) for row in rows],
            batch_size=2000, update_conflicts=True, unique_fields=["run", "key"], update_fields=_UPDATE_FIELDS,
        )
        return
    if not rows:
        return
    # PostgreSQL: COPY into a scratch table, then one INSERT … ON CONFLICT; building a model instance
    # per row and binding its parameters cost more than the database work itself.
    now = timezone.now()
    fixed = {"run_id": run.pk, "status": Discrepancy.Status.OPEN.value, "superseded": False,
             "created_at": now, "updated_at": now}
    fields = list(rows[0])
    columns = [*fixed, "key", *fields]
    table = Discrepancy._meta.db_table
    text = "".join(
        "\t".join(_copy_text(v) for v in (*fixed.values(), _discrepancy_key(row), *(row[f] for f in fields))) + "\n"
        for row in rows
    )
    names = ", ".join(columns)
    updates = ", ".join(
        f"{c} = EXCLUDED.{c}" for c in (Discrepancy._meta.get_field(f).column for f in _UPDATE_FIELDS)
    )
    with connection.cursor() as cursor:
        # Dropped first too: in an enclosing transaction (a test, a re-run) ON COMMIT has not fired yet.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.discrepancy_batch")
        cursor.execute(
            f"CREATE TEMP TABLE discrepancy_batch ON COMMIT DROP AS SELECT {names} FROM {table} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY discrepancy_batch ({names}) FROM STDIN") as copy:
            copy.write(text)
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM discrepancy_batch "
            f"ON CONFLICT (run_id, key) DO UPDATE SET {updates}"
        )


def _copy_text(value: Any) -> str:
    """One value in COPY's text format (NULL is \\N; Decimal and datetimes exactly as text)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if any(c in text for c in "\\\t\n\r"):
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
