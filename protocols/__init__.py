"""Benchmark protocols as data: ``get('intra')``, ``names()``. See ``protocols.base``."""

from __future__ import annotations

from bench.core.errors import did_you_mean
from protocols.base import DEFAULT_VARIANT, Options, Protocol, ProtocolError, Unit, Variant
from protocols.evaluation import EVAL
from protocols.paper import PROTOCOLS

PROTOCOLS = {**PROTOCOLS, EVAL.name: EVAL}

__all__ = ["DEFAULT_VARIANT", "Options", "Protocol", "ProtocolError", "Unit", "Variant", "get", "names", "PROTOCOLS"]


class UnknownProtocol(ProtocolError):
    pass


def names() -> list[str]:
    return list(PROTOCOLS)


def get(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise UnknownProtocol(did_you_mean(name, PROTOCOLS, "protocol") + " `python -m bench protocols` lists them.")
    return PROTOCOLS[name]
