"""Open311 GeoReport v2: categories as services, petitions as service requests.

``service`` maps the specification onto the case domain and knows nothing of formats, with ``catalogue``
(services and their definitions), ``intake`` (a POST read onto a petition) and ``listing`` (petitions shown
as service requests) behind it; ``render`` writes its answers as JSON or XML; ``api`` holds the thin routes
under ``/open311/v2``.
"""
