"""WeChat: the official account webhook (plaintext, compatible and safe mode) and the mini-program back end.

``parse`` verifies, decrypts and parses what WeChat posts into an ``InboundMessage``; ``api`` holds the
routes (``/channels/wechat`` and ``/api/v1/miniprogram/...``) and answers each message with a passive reply
when the turn is fast, else ``success`` and the customer-service API; ``adapter`` sends outbox messages and
template notifications; ``client`` talks to the WeChat HTTP API with a cached, refreshed access token.
"""
