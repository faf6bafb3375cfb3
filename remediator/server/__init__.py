"""``remediator serve``: the webhook receiver. Importing this package stays cheap (the config
needs its settings); the HTTP stack is loaded by ``remediator.server.app``."""
