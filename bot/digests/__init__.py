"""Digests: schedules, what is new for a subscription, the outbox and the delivery log.

``schedule`` (when), ``selection`` (what), ``cards`` (how it looks), ``store`` (the SQLite
state), ``delivery`` (exactly-once sends through an injected ``Sender``) and ``service`` (the
commands' API). Nothing here imports ``discord``; ``cogs/_sender.py`` implements ``Sender``.
"""
