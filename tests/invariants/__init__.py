"""End-to-end invariants under hostile servers (docs/hardening.md, issue 6).

* :mod:`tests.invariants.hostile` - the hostile-server driver: an embedded
  :class:`~popview.server.Pop3Server` that records what each session saw
  (login snapshot, TLS state of every command, what QUIT removed), faults whose
  reply is derived from the real one at the moment they fire, and the oracle
  that checks a run against the user's intent.
* :mod:`tests.invariants.strategies` - hypothesis strategies (mailboxes, faults,
  user actions) and the ``ci``/``soak`` settings profiles.
* ``test_*_invariants.py`` - the same invariants through ``MailboxSession``, the
  headless ``popview`` commands and the Textual app.
"""
