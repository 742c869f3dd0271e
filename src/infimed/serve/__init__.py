"""``infimed serve``: an OpenAI-compatible gateway that adds auth, limits, a PHI policy and a chained audit.

The model sits behind the shared backend protocol (``infimed.backends``) in process, or is an existing
OpenAI-compatible server on loopback (``--upstream``). ``create_app(settings)`` builds the ASGI app.
"""
