"""The platform stand-ins of the channel tests (Twilio's REST API, WeChat's API), loaded for the security tests.

Test folders are not packages: the modules are loaded by path, once, under the names their own tests use.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


twilio = _load("twilio_standin", TESTS / "channels" / "sms" / "fixtures" / "twilio_standin.py")
wechat = _load("wechat_kit", TESTS / "channels" / "wechat" / "wechat_kit.py")
