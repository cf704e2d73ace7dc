"""`flask --app trace do COMMAND --as USERNAME --input JSON`: every domain command from the CLI,
from the same typed inputs as the portal, its result as JSON, a refusal as JSON with exit 2."""
from __future__ import annotations

import json

from tests.conftest import t
from tests.test_portal_support import add_user, last_event, log_size
from trace.domain.rules import COMMANDS


def _do(runner, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(args=["do", *args])


def test_list_prints_every_command_with_its_input_schema(runner) -> None:  # type: ignore[no-untyped-def]
    r = _do(runner, "--list")
    assert r.exit_code == 0, r.output
    listing = json.loads(r.output)
    assert set(listing) == set(COMMANDS) and {"harvest", "ship", "recall", "user.create"} <= set(listing)
    harvest = listing["harvest"]["input"]
    assert harvest["type"] == "object" and set(harvest["required"]) == {"plot", "product", "quantity_g"}
    assert harvest["properties"]["quantity_g"]["maximum"] == 10**12 and "additionalProperties" in harvest
    assert listing["harvest"]["summary"].startswith("Register a harvest")


def test_a_command_runs_as_the_user_and_prints_its_result(runner, svc, world) -> None:  # type: ignore[no-untyped-def]
    add_user(svc, world["grower"], "coop")
    data = {"plot": world["plot"], "product": "nanchangtan-soft-pear", "quantity_g": 1_500_000,
            "occurred_at": t(9, 20).isoformat()}
    r = _do(runner, "harvest", "--as", "coop", "--input", json.dumps(data))
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    logged = last_event(svc)
    assert out["entry"] == log_size(svc) - 1 and out["event"] == logged["event"]
    assert logged["party"] == world["grower"] and logged["user"].startswith("u") and logged["event"]["quantity_g"] == 1_500_000
    pack = _do(runner, "pack", "--as", "coop", "--input", json.dumps({"batch": out["event"]["batch"]["id"], "count": 2,
                                                                      "net_g": 5000, "occurred_at": t(9, 21).isoformat()}))
    assert pack.exit_code == 0 and len(json.loads(pack.output)["serials"]) == 2  # the packer prints them


def test_a_refusal_prints_its_code_message_and_field_and_exits_2(runner, svc, world, snapshot) -> None:  # type: ignore[no-untyped-def]
    add_user(svc, world["grower"], "coop")
    before = snapshot()
    data = {"plot": world["plot"], "product": "nanchangtan-soft-pear", "quantity_g": 25_000_000,
            "occurred_at": t(9, 20).isoformat()}
    r = _do(runner, "harvest", "--as", "coop", "--input", json.dumps(data))
    assert r.exit_code == 2
    err = json.loads(r.output)["error"]
    assert err["code"] == "gi.over_ceiling" and err["field"] == "quantity_g"
    assert "20000000 g" in err["message"]  # in the unit the caller typed: grams
    zh = json.loads(_do(runner, "harvest", "--as", "coop", "--lang", "zh", "--input", json.dumps(data)).output)["error"]
    assert "超出产量上限" in zh["message"] and "20000000 克" in zh["message"]
    bad = json.loads(_do(runner, "harvest", "--as", "coop", "--input", json.dumps({**data, "quantity_g": "lots",
                                                                                      "plot": "x"})).output)
    assert {e["field"] for e in bad["errors"]} == {"plot", "quantity_g"} and bad["error"]["code"] == "input.whole_number"
    assert snapshot() == before


def test_unknown_logins_commands_and_bad_json_exit_2(runner, svc, world) -> None:  # type: ignore[no-untyped-def]
    add_user(svc, world["grower"], "coop")
    for args, code in [(("harvest", "--as", "nobody"), "actor.unknown_login"),
                       (("launder", "--as", "coop"), "command.unknown"),
                       (("harvest", "--as", "coop", "--input", "{not json"), "input.json"),
                       (("harvest", "--as", "coop", "--input", "[1, 2]"), "input.json"),
                       (("harvest", "--as", "coop", "--input", json.dumps({"plot": 1, "colour": "red"})), "input.unknown_field")]:
        r = _do(runner, *args)
        assert r.exit_code == 2, (args, r.output)
        assert json.loads(r.output)["error"]["code"] in (code, "input.required"), (args, r.output)
    assert _do(runner, "harvest").exit_code != 0  # --as is required (a usage error)
