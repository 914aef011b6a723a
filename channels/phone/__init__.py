"""Phone calls through Twilio Voice: recorded turns transcribed offline by faster-whisper (``transcriber``),
keypad answers for choices and numbers, agent takeover by <Dial> (``api``); ``models_install`` assembles the
speech models from their packages."""
