"""The client's resource sub-clients, one module per resource of the control plane's API.

Each is a small class built on the one :class:`~ferry._transport.Transport` the
:class:`~ferry.Client` owns, reached as an attribute of the client (``client.registry``,
``client.serving`` ...). Adding a resource is one module here and one line in
``Client.__init__``; the flat methods of ``Client`` (``client.deploy(...)``) are aliases
kept for the README, the guides and existing code.
"""
