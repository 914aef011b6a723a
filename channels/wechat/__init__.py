"""WeChat: the official account webhook (plaintext, compatible and safe mode) and the mini-program back end.

``api`` and ``miniprogram_api`` hold the thin routes (``/channels/wechat`` and ``/api/v1/miniprogram/...``);
``parse`` verifies, decrypts and parses what WeChat posts into an ``InboundMessage``; ``service`` runs each
message's turn (``flights``) and answers with a passive reply when it is fast, else ``success`` and the
customer-service API; ``media`` downloads, checks and stores media files; ``miniprogram_service`` logs the
mini-program user in and runs their chat, ``miniprogram_petitions`` shows and acts on their own petitions
(``schemas`` are the mini-program's JSON shapes); ``adapter`` sends outbox messages and template
notifications; ``client`` talks to the WeChat HTTP API with a cached, refreshed access token.
"""
