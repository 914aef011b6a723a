"""Fixtures of the WeChat tests (defined in wechat_kit)."""

from wechat_kit import client, msg_ids, safe_client, standin, wechat, wechat_settings  # noqa: F401
