"""POP3 client: a sans-IO protocol core (``protocol``), SASL/APOP (``auth``),
TLS contexts (``tls``) and the asyncio shell (``client``)."""
