"""traitsweb beside each peer: every headline figure (medians of the runs) with the peer's and the ratio."""

from __future__ import annotations

from typing import Any

__all__ = ["NEEDS", "TITLE", "section", "summary"]

#: the report's section comparing traitsweb with the peers
TITLE = "traitsweb beside the peers"
#: the sections a comparison is made from
NEEDS = ("round trip", "fan-out", "broker floor", "Nchan", "python-socketio")
CPU = "server cpu s / 1000 deliveries"
RT_METRICS = ("p50 ms", "p99 ms", "load generator cpu s")
FANOUT_METRICS = ("deliveries/s achieved", "p50 ms", "p99 ms", CPU, "lost", "load generator cpu s")
#: (peer section, its row's measure, its transport) for each traitsweb transport
PEERS = {
    "poll": [("Nchan", "long-poll", "poll"), ("python-socketio", "polling", "poll")],
    "sse": [("Nchan", "EventSource", "sse")],
    "ws": [("python-socketio", "WebSocket", "ws")],
}


def _rows(sections: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return sections.get(name, {}).get("rows", [])


def _traitsweb_rt(sections: dict[str, Any]) -> dict[str, Any] | None:
    return next((r for r in _rows(sections, "round trip") if "(other)" in str(r.get("path", ""))), None)


def _traitsweb_fanout(sections: dict[str, Any], transport: str) -> dict[str, Any] | None:
    row = next((r for r in _rows(sections, "fan-out") if r.get("transport") == transport), None)
    if row is not None and CPU not in row:
        row = {**row, CPU: row.get("gateway cpu s / 1000 deliveries")}
    return row


def _peer(sections: dict[str, Any], name: str, measure: str, transport: str) -> dict[str, Any] | None:
    return next((r for r in _rows(sections, name) if r.get("measure") == measure and r.get("transport") == transport),
                None)


def _ratio(ours: Any, theirs: Any) -> float | str:
    if isinstance(ours, (int, float)) and isinstance(theirs, (int, float)) and theirs:
        return round(ours / theirs, 2)
    return "–"


def _pairs(sections: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], str, dict[str, Any], tuple[str, ...]]]:
    """(measure, transport, traitsweb row, peer label, peer row, metrics) for every pairing measured."""
    out = []
    rt = _traitsweb_rt(sections)
    if rt:
        floor = next(iter(_rows(sections, "broker floor")), None)
        if floor:
            out.append(("round trip", "long-poll", rt, "plain stomp.py floor", floor, RT_METRICS))
        for name, label, transport in PEERS["poll"]:
            peer = _peer(sections, name, "round trip", transport)
            if peer:
                out.append(("round trip", "long-poll", rt, f"{name} {label}", peer, RT_METRICS))
    for transport, peers in PEERS.items():
        ours = _traitsweb_fanout(sections, transport)
        for name, label, theirs in peers:
            peer = _peer(sections, name, "fan-out", theirs)
            if ours and peer:
                out.append(("fan-out", transport, ours, f"{name} {label}", peer, FANOUT_METRICS))
    return out


def section(sections: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for measure, transport, ours, label, peer, metrics in _pairs(sections):
        for metric in metrics:
            rows.append({"measure": measure, "traitsweb transport": transport, "figure": metric,
                         "traitsweb": ours.get(metric, "–"), "peer": label, "peer's": peer.get(metric, "–"),
                         "traitsweb / peer": _ratio(ours.get(metric), peer.get(metric))})
    return {
        "description": "Medians of each system's runs (every system measured alone, in this run). A ratio above 1 "
        "means traitsweb's figure is the larger: slower or more CPU for latencies and CPU, more for rates.",
        "rows": rows,
    }


def summary(sections: dict[str, Any]) -> list[str]:
    """The issue's targets against this run's medians, one line each (met or not, with the figures)."""
    out = []

    def check(what: str, value: Any, limit: float, unit: str = "") -> None:
        if isinstance(value, (int, float)):
            out.append(f"{what}: {value:g}{unit} (target <= {round(limit, 2):g}{unit}): "
                       f"{'met' if value <= limit else 'NOT met'}")

    rt = _traitsweb_rt(sections)
    floor = next(iter(_rows(sections, "broker floor")), None)
    sio = _peer(sections, "python-socketio", "round trip", "poll")
    if rt and floor:
        for q, limit in (("p50 ms", 2.0), ("p99 ms", 2.5)):
            check(f"round trip {q[:3]} traitsweb / plain stomp.py floor", _ratio(rt.get(q), floor.get(q)), limit, "x")
    if rt and sio:
        for q in ("p50 ms", "p99 ms"):
            check(f"round trip {q[:3]} traitsweb / python-socketio", _ratio(rt.get(q), sio.get(q)), 1 / 1.5, "x")
    nchan_lp = _peer(sections, "Nchan", "fan-out", "poll")
    for transport, p99, cpu_factor in (("poll", 50, 2.0), ("sse", 25, 1.0), ("ws", 25, 1.0)):
        ours = _traitsweb_fanout(sections, transport)
        if not ours:
            continue
        check(f"fan-out {transport} p99", ours.get("p99 ms"), p99, " ms")
        if isinstance(ours.get("lost"), int):
            out.append(f"fan-out {transport} lost: {ours['lost']} (target 0): {'met' if ours['lost'] == 0 else 'NOT met'}")
        if nchan_lp:
            check(f"fan-out {transport} CPU per delivery traitsweb / Nchan long-poll",
                  _ratio(ours.get(CPU), nchan_lp.get(CPU)), cpu_factor, "x")
    for name in ("broker floor", "Nchan", "python-socketio"):
        for row in _rows(sections, name):
            if row.get("lost"):
                out.append(f"{name} {row.get('measure', 'round trip')} {row.get('transport', '')}: {row['lost']} lost")
    return out
