"""Video reception and joint mediation.

Sessions for a petition with participants by role (``service``), signed invitation links (``links``) and their
delivery (``invitations``), who is in the room and what the host does there (``attendance``), WebRTC signalling
over our WebSocket with a waiting room and host controls (``signalling``), the optional LiveKit SFU
(``livekit``), consent-gated recordings attached to the case (``recordings``), and the agreement that moves the
case on (``agreement``).
"""
