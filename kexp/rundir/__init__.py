"""The run folder, the record of one experiment: written atomically with a status
guard (:mod:`.write`), read back tolerantly (:mod:`.read`)."""
