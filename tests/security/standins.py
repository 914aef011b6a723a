"""The platform stand-ins of the channel tests (Twilio's REST API, WeChat's API), loaded for the security tests.

Test folders are not packages: the modules are loaded by path, once, under the names their own tests use.
"""

from __future__ import annotations

from tests.conftest import TESTS, load_by_path

twilio = load_by_path("twilio_standin", TESTS / "channels" / "sms" / "fixtures" / "twilio_standin.py")
wechat = load_by_path("wechat_kit", TESTS / "channels" / "wechat" / "wechat_kit.py")
