"""``/mutes``: set, list and end a mute over the real store; bad requests name the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.api.conftest import ApiFactory

BODY = {
    "name": "muted-row",
    "handler": "static_report",
    "trigger_config": {
        "trigger_type": "interval",
        "every_seconds": 3600,
        "misfire_policy": "catchup_latest",
    },
}


async def test_a_mute_is_set_listed_and_ended_by_id_or_name(api: httpx.AsyncClient) -> None:
    created = await api.post("/activity-definitions/", json=BODY)
    assert created.status_code == 201, created.text
    try:
        made = await api.post(
            "/mutes", json={"target": "muted-row", "for": "2h", "reason": "hub migration"}
        )
        assert made.status_code == 201, made.text
        mute = made.json()
        ends = datetime.fromisoformat(mute["ends_at"])
        assert timedelta(minutes=119) < ends - datetime.now(UTC) <= timedelta(hours=2)
        everything = await api.post(
            "/mutes",
            json={
                "target": "*",
                "until": (datetime.now(UTC) + timedelta(minutes=30)).isoformat(),
                "reason": "cluster upgrade",
            },
        )
        assert everything.status_code == 201, everything.text
        listed = (await api.get("/mutes")).json()
        assert [m["target"] for m in listed] == ["*", "muted-row"]  # soonest end first
        by_id = await api.delete(f"/mutes/{mute['mute_id']}")
        assert by_id.status_code == 200 and by_id.json()["ended"][0]["target"] == "muted-row"
        by_name = await api.delete("/mutes/*")
        assert by_name.status_code == 200
        assert (await api.get("/mutes")).json() == []
        assert (await api.delete("/mutes/muted-row")).status_code == 404
    finally:
        await api.delete("/activity-definitions/muted-row")


async def test_bad_mutes_are_refused_with_the_field(api: httpx.AsyncClient) -> None:
    unknown = await api.post("/mutes", json={"target": "no-such", "for": "1h", "reason": "x"})
    assert unknown.status_code == 404 and "no-such" in unknown.text
    cases = {
        "for": {"target": "*", "for": "soon", "reason": "x"},
        "reason": {"target": "*", "for": "1h", "reason": ""},
        "until": {
            "target": "*",
            "until": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "reason": "x",
        },
    }
    for field, body in cases.items():
        answer = await api.post("/mutes", json=body)
        assert answer.status_code == 422, (field, answer.text)
        assert field in [str(p) for e in answer.json()["detail"] for p in e["loc"]], answer.text
    both = await api.post(
        "/mutes",
        json={"target": "*", "for": "1h", "until": datetime.now(UTC).isoformat(), "reason": "x"},
    )
    assert both.status_code == 422
    too_long = await api.post("/mutes", json={"target": "*", "for": "91d", "reason": "x"})
    assert too_long.status_code == 422 and "90 days" in too_long.text


async def test_setting_a_mute_needs_the_write_token(api_factory: ApiFactory) -> None:
    async with api_factory(api_read_open=True) as http:
        refused = await http.post("/mutes", json={"target": "*", "for": "1h", "reason": "x"})
        assert refused.status_code == 401
        assert (await http.get("/mutes")).status_code == 200
