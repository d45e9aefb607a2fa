"""An ``extract`` run: its options and plan, the overlapped stages (read, engine, write), progress,
failures, and the ways of splitting it (``--shard``, ``--cluster``)."""
