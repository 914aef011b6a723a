"""The channel-agnostic dialogue engine.

Conversation state and transcript (``models``, ``service``), the engine (``engine``), the intake form
with its confirmation and corrections (``intake``), status query, supplement and feedback
(``followup``), handoff to a human agent, and the localised messages (``messages``).
"""
