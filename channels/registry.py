"""Channel adapters by name: how an outbox message leaves for its platform."""

from __future__ import annotations

from typing import Protocol

from channels.service import OutboundMessage


class ChannelAdapter(Protocol):
    """Send messages to one platform; domain code never sees the vendor SDK behind it."""

    name: str
    # In-band channels (web chat) hand replies back in the same exchange; nothing is sent later.
    in_band: bool
    # Adapters whose platform can say what it already received set this and accept ``resume_since`` in
    # send: a retry after a crash then sends only what is missing (channels.tasks.send_outbox).
    reconciles: bool = False

    def send(self, message: OutboundMessage) -> str | None:
        """Deliver one message and return the platform's message id; raise to have it retried."""


class DeliveryError(Exception):
    """The platform refused a message for good (a retry cannot help)."""


_adapters: dict[str, ChannelAdapter] = {}


def register(adapter: ChannelAdapter) -> None:
    """Make an adapter the one for its channel name."""
    _adapters[adapter.name] = adapter


def get(name: str) -> ChannelAdapter | None:
    """Return the adapter of a channel, if one is registered."""
    return _adapters.get(name)


class WebChatAdapter:
    """Web chat pulls its messages (WebSocket push or history polling); sending is a no-op."""

    name = "webchat"
    in_band = True

    def send(self, message: OutboundMessage) -> str | None:
        """Nothing to do: the page fetches the message from the transcript."""
        return None


register(WebChatAdapter())
