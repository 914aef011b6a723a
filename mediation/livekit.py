"""The LiveKit plugin: with ``mediation_provider = "livekit"`` media goes through a LiveKit SFU instead of a mesh.

Our WebSocket still runs the waiting room and the host's controls; a participant gets their LiveKit
access token only once admitted, so the SFU room holds no one the host has not let in. Tokens are signed
with ``livekit-api`` (an HS256 JWT with LiveKit's documented ``video`` grant).
"""

from __future__ import annotations

from datetime import timedelta

from core.settings import Settings, get_settings


class LiveKitNotConfigured(RuntimeError):
    """The LiveKit provider is selected but its URL, key or secret is missing."""


def configured(settings: Settings | None = None) -> bool:
    """Tell whether the LiveKit provider is selected and complete."""
    settings = settings or get_settings()
    return (settings.mediation_provider == "livekit" and bool(settings.livekit_url and settings.livekit_api_key)
            and bool(settings.livekit_api_secret and settings.livekit_api_secret.get_secret_value()))


def access_token(*, room: str, identity: str, name: str, host: bool, ttl: timedelta = timedelta(hours=6),
                 settings: Settings | None = None) -> str:
    """Return a LiveKit access token to join one room (publish and subscribe; room admin for the host)."""
    from livekit import api

    settings = settings or get_settings()
    if not (settings.livekit_api_key and settings.livekit_api_secret and settings.livekit_api_secret.get_secret_value()):
        raise LiveKitNotConfigured("set PETITION_LIVEKIT_API_KEY and PETITION_LIVEKIT_API_SECRET")
    grants = api.VideoGrants(room_join=True, room=room, can_publish=True, can_subscribe=True, can_publish_data=True,
                             room_admin=True if host else None)
    return (api.AccessToken(settings.livekit_api_key, settings.livekit_api_secret.get_secret_value())
            .with_identity(identity).with_name(name).with_ttl(ttl).with_grants(grants).to_jwt())


def client_config(*, room: str, participant_id: int, name: str, host: bool, settings: Settings | None = None) -> dict:
    """Return what the browser needs to join the SFU room: the server URL and its token."""
    settings = settings or get_settings()
    if not configured(settings):
        raise LiveKitNotConfigured("the LiveKit provider needs PETITION_LIVEKIT_URL, _API_KEY and _API_SECRET")
    return {"url": settings.livekit_url, "token": access_token(room=room, identity=f"p{participant_id}", name=name,
                                                                host=host, settings=settings)}
