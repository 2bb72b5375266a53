"""The life of one connection: settings, the client and its filter order, login, stream management, reconnection."""
