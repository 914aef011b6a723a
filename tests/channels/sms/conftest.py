"""SMS test fixtures: the Twilio stand-in, settings pointed at it, and a client with the SMS routes."""

from __future__ import annotations

from tests.conftest import TESTS, load_by_path

# Shared with tests/channels/phone and tests/reliability.
_standin = load_by_path("twilio_standin", TESTS / "channels" / "sms" / "fixtures" / "twilio_standin.py")
standin, twilio_settings, client = _standin.standin, _standin.twilio_settings, _standin.client
