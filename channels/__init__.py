"""Channel adapters over one idempotent inbox and one outbox.

``service`` turns any platform's message into an ``InboundMessage``, stores it once, runs the bot and
stores the replies; ``api`` is the agent API; ``webchat`` is the citizen web chat. WeChat, SMS, phone
and Open311 adapters come next.
"""
