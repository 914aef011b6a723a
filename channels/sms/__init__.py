"""SMS through Twilio: the signed inbound webhook answered in TwiML (``api``), and the REST adapter for the
outbox with opt-out (STOP / START) and delivery status callbacks (``adapter``)."""
