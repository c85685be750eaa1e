"""Pure rules of the gateway: no I/O, no framework imports, no other project layer."""
