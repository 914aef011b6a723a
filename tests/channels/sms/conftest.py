"""SMS test fixtures: the Twilio stand-in, settings pointed at it, and a client with the SMS routes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def _standin_module():
    # Shared with tests/channels/phone; test folders are not packages, so it is loaded by path, once.
    if "twilio_standin" not in sys.modules:
        spec = importlib.util.spec_from_file_location("twilio_standin",
                                                      Path(__file__).resolve().parent / "fixtures" / "twilio_standin.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["twilio_standin"] = module
        spec.loader.exec_module(module)
    return sys.modules["twilio_standin"]


_standin = _standin_module()
standin, twilio_settings, client = _standin.standin, _standin.twilio_settings, _standin.client
