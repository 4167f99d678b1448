"""Signals of origin: pure functions from an image's metadata or a sighting's page and hosts to :class:`Signal`
records, and opt-out (consent) signals to :class:`OptOut` records. No network, no database, no settings here."""

from audit.signals.base import OptOut, Signal, Strength

__all__ = ["OptOut", "Signal", "Strength"]
