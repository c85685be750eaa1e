"""Use cases: each takes a unit of work (and a principal where one acts) and returns domain objects.

Services see repositories only through the protocols in ``ports``; they never import SQLAlchemy,
Spyne or lxml.
"""
