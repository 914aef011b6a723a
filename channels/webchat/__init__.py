"""The citizen web chat: the page at ``/``, the WebSocket ``/ws/chat`` and ``POST /api/v1/chat``."""
