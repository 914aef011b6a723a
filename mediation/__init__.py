"""Video reception and joint mediation.

Will own sessions with participants by role, invitations, WebRTC signalling, the optional SFU
plugin, and the outcome and agreement linked to the case. Nothing is implemented here yet.
"""
