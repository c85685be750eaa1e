"""The Spyne adapter: types, services, the one fault mapping, the WSGI front and app factory."""
