"""An ``extract`` run: its options and settings (resolved once, :mod:`.settings`), its plan, the
overlapped stages (read, engine, write), progress, failures, and the ways of splitting it
(``--shard``, ``--cluster``).

Before touching this package, read :mod:`ecgspec.run.backend`'s docstring: how reading runs beside
the rest of a run (threads or processes behind one interface, typed events, explicit release of
shared memory, one shutdown protocol) and which module does what."""
