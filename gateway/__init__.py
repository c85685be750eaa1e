"""NOTESS gateway: SOAP web services for bulk handling of official telematic notifications."""

__version__ = "0.1.0"
