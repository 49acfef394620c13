"""Segment-spec rules and clock-skew correction on single calls, without a server."""

from __future__ import annotations

from datetime import datetime

import pytest

from aha.ingest.payloads import Call, Rejection, validate_call

RECEIVED = datetime(2026, 3, 1, 12, 0, 0)  # naive UTC, as stored


@pytest.mark.parametrize(
    ("call", "timestamp", "original"),
    [
        # client clock 1 h slow: sent 10 s after the event by its own clock -> received_at - 10 s
        pytest.param({"timestamp": "2026-03-01T11:00:00Z", "sentAt": "2026-03-01T11:00:10Z"},
                     datetime(2026, 3, 1, 11, 59, 50), datetime(2026, 3, 1, 11, 0), id="skew_corrected"),
        pytest.param({"originalTimestamp": "2026-03-01T13:00:00+01:00", "sentAt": "2026-03-01T12:00:30Z"},
                     datetime(2026, 3, 1, 11, 59, 30), datetime(2026, 3, 1, 12, 0), id="original_wins_zones"),
        pytest.param({"timestamp": "2026-02-01T00:00:00Z"}, datetime(2026, 2, 1), datetime(2026, 2, 1),
                     id="no_sent_at_kept_as_is_late_event"),
        pytest.param({}, RECEIVED, None, id="no_time_means_received_at"),
    ],
)
def test_clock_skew(call: dict[str, str], timestamp: datetime, original: datetime | None) -> None:
    result = validate_call({"type": "track", "userId": "u", "event": "E", **call}, received_at=RECEIVED, source="s")
    assert isinstance(result, Call)
    assert (result.timestamp, result.original_timestamp) == (timestamp, original)


@pytest.mark.parametrize(
    ("call", "rejection"),
    [
        pytest.param({"type": "track", "userId": "u", "event": "E", "timestamp": "2026-03-02T12:00:01Z"},
                     Rejection("timestamp", "2026-03-02T12:00:01Z is more than a day in the future"), id="future"),
        pytest.param({"type": "screen"}, Rejection("userId", "userId or anonymousId is required"), id="no_ids"),
        pytest.param({"type": "nope", "userId": "u"},
                     Rejection("type", "unknown call type 'nope'; expected one of track, identify, group, alias, page, "
                               "screen"), id="unknown_type"),
        pytest.param({"type": "alias", "anonymousId": "a", "previousId": "p"},
                     Rejection("userId", "alias needs userId (the new id)"), id="alias_needs_user"),
    ],
)
def test_rejections(call: dict[str, str], rejection: Rejection) -> None:
    assert validate_call(call, received_at=RECEIVED, source="s") == rejection


def test_page_and_group_normalised() -> None:
    page = validate_call({"type": "page", "anonymousId": 7, "name": "Home", "context": {"groupId": "acme"}},
                         received_at=RECEIVED, source="s")
    assert isinstance(page, Call)
    assert (page.event, page.anonymous_id, page.account_id, page.properties) == ("Page Viewed", "7", "acme",
                                                                                  {"name": "Home"})
    same = validate_call({"type": "page", "anonymousId": 7, "name": "Home", "context": {"groupId": "acme"}},
                         received_at=RECEIVED, source="s")
    # no messageId: a server-assigned id per call, so a genuine repeat is a second call (issue 12 item 9)
    assert isinstance(same, Call) and same.message_id != page.message_id and same.message_id.startswith("aha-")
