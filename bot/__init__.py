"""The channel-agnostic dialogue engine.

Will own conversation state, the intake form (slots), status query, supplement, feedback,
handoff to a human agent and localised messages. Nothing is implemented here yet.
"""
