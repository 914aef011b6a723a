"""Channel adapters.

Will own the adapters that turn a platform's request into one ``InboundMessage`` and send
``OutboundMessage``s back (web chat, WeChat, SMS, phone, Open311), the idempotent inbox and the
outbox. Nothing is implemented here yet.
"""
