"""One entry point for both transports: a decoded request in, counted outcome out."""

from __future__ import annotations

from .events import Events
from .metrics import Outcome, ingest
from .stats import Stats
from .store import Store

# OTLP status codes (google.rpc.Code) used in error answers.
INVALID_ARGUMENT = 3


class Receiver:
    def __init__(self, store: Store, stats: Stats, events: Events) -> None:
        self.store = store
        self.stats = stats
        self.events = events

    def export(self, protocol: str, signal: str, request, peer: str) -> Outcome:
        """Convert one request; count and log what it kept and dropped."""
        out = ingest(request, self.store) if signal == "metrics" else self.events.ingest(request)
        if out.accepted:
            self.stats.inc("otlp_receiver_accepted_points_total", {"signal": signal}, out.accepted)
        for reason, n in out.dropped.items():
            self.stats.inc("otlp_receiver_dropped_points_total", {"signal": signal, "reason": reason}, n)
        if out.dropped:
            self.stats.warn(f"drop:{signal}:{','.join(sorted(out.dropped))}",
                            f"{protocol} {signal} from {peer}: kept {out.accepted}, {out.message()}")
        outcome = "accepted" if not out.dropped else ("partial" if out.accepted else "rejected")
        self.stats.inc("otlp_receiver_requests_total", {"protocol": protocol, "signal": signal, "outcome": outcome})
        return out

    def refuse(self, protocol: str, reason: str, text: str, peer: str) -> None:
        """A request refused whole before conversion (bad body, too large, ...)."""
        self.stats.inc("otlp_receiver_rejected_requests_total", {"protocol": protocol, "reason": reason})
        self.stats.warn(f"refuse:{protocol}:{reason}", f"{protocol} request from {peer} refused ({reason}): {text}")
