"""A refused ReleaseAddress in a mitmproxy flow is worded by what its address is to dockerd
(issue #12's address roles): the flows ipamx-spy exports carry the role the recording reader
followed, and flows mitmproxy captured itself get it from the addon following them in order,
with the same follower (``dockerd.ledger.AddressRoles``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from ipamx_spy import recording as rec
from ipamx_spy.dockerd import AddressRole
from ipamx_spy.dockerd.ledger import AddressRoles
from ipamx_spy.export import build_trace
from ipamx_spy.export.mitm import export_mitm
from ipamx_spy.mitm import flowstate, tnetstring, view

HERE = Path(__file__).resolve().parent
TALK = HERE.parent / "recordings" / "talk.jsonl"
ADDON = HERE.parent / "ipamx_spy" / "mitm_addon.py"
GATEWAY_LINE = "Failed to release gateway ip address 10.4.4.1"


def _refused_gateway_release(tmp_path: Path) -> Path:
    """talk.jsonl with the gateway's release (#10, right before ReleasePool) refused."""
    lines = []
    for line in TALK.read_text().splitlines():
        record = json.loads(line)
        if record.get("seq") == 10:
            record["response"]["body"]["json"] = {"Error": "address held"}
        lines.append(json.dumps(record))
    out = tmp_path / "refused.jsonl"
    out.write_text("\n".join(lines) + "\n")
    return out


def _states(path: Path) -> list[dict[str, Any]]:
    values = tnetstring.loads_all(export_mitm(build_trace(rec.load(path), validate=False)))
    assert all(isinstance(v, dict) for v in values)
    return values  # type: ignore[return-value]


def _verdict(state: dict[str, Any]) -> str:
    line = view.verdict_line(flowstate.exchange_of(state))
    return "".join(text for _style, text in line)


def test_an_exported_flow_of_a_refused_gateway_release_names_the_gateway_log_line(
        tmp_path: Path) -> None:
    states = _states(_refused_gateway_release(tmp_path))
    release = next(s for s in states if s["metadata"]["ipamx-spy"]["exchange"]["seq"] == 10)
    assert release["metadata"][flowstate.ROLE_META] == "gateway"
    assert flowstate.address_role_of(release) is AddressRole.GATEWAY
    verdict = _verdict(release)
    assert verdict.startswith("dockerd only logs the error") and GATEWAY_LINE in verdict
    others = [s["metadata"][flowstate.ROLE_META] for s in states if s is not release]
    assert set(others) <= {"", "endpoint"}


def test_flows_without_roles_get_them_by_following_the_flows_in_order(tmp_path: Path) -> None:
    """As the addon does for flows mitmproxy captured itself: no role stored, each flow
    followed as it comes."""
    states = _states(_refused_gateway_release(tmp_path))
    for state in states:
        del state["metadata"][flowstate.ROLE_META]
    [release] = [s for s in states if s["metadata"]["ipamx-spy"]["exchange"]["seq"] == 10]
    assert GATEWAY_LINE not in _verdict(release)  # unknown reads as a container's
    roles = AddressRoles()
    for state in states:
        state["metadata"][flowstate.ROLE_META] = flowstate.follow_role(roles, state)
    assert release["metadata"][flowstate.ROLE_META] == "gateway"
    assert GATEWAY_LINE in _verdict(release)
    sentence_of_release = view.message_view(flowstate.exchange_of(release), answer=True)[1]
    assert any(GATEWAY_LINE in text for line in sentence_of_release for _s, text in line)


def test_a_role_this_version_does_not_know_reads_as_unsaid() -> None:
    assert flowstate.address_role_of({"metadata": {flowstate.ROLE_META: "moon"}}) is None
    assert flowstate.address_role_of({"metadata": {}}) is None


def test_the_addon_follows_captured_flows_and_its_view_names_the_gateway_line(
        mitm_python: Path, tmp_path: Path) -> None:
    """Inside mitmproxy: flows without a stored role, each handed to the addon's response hook
    in order; the libnetwork view of the refused gateway release names dockerd's line."""
    flows = tmp_path / "refused.flows"
    flows.write_bytes(export_mitm(build_trace(rec.load(_refused_gateway_release(tmp_path)),
                                              validate=False)))
    out = tmp_path / "views.json"
    result = subprocess.run([str(mitm_python), str(HERE / "mitm_check.py"), "views",
                             str(ADDON), str(flows), str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    seen = json.loads(out.read_text())
    assert len(seen) == 11
    [release] = [lines for lines in seen if lines[0].startswith("IpamDriver.ReleaseAddress")
                 and any(GATEWAY_LINE in line for line in lines)]
    assert any(line.startswith("dockerd only logs the error") and GATEWAY_LINE in line
               for line in release)
