"""Open311 GeoReport v2: categories as services, petitions as service requests.

``service`` maps the specification onto the case domain and knows nothing of formats; ``render``
writes its answers as JSON or XML; ``api`` holds the thin routes under ``/open311/v2``.
"""
