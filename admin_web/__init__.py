"""The web console for agents, handlers, supervisors, analysts and admins.

Will own login, roles and unit scoping, the pages of each role, dashboards and the risk map.
Nothing is implemented here yet.
"""
