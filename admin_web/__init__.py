"""The web console under /console: login, roles and unit scoping, pages for every staff role."""
