"""The run folder, the record of one experiment: written atomically with a status
guard (:mod:`.write`), read back tolerantly (:mod:`.read`; its JSON files by
:mod:`.files`, its config as dotted keys by :mod:`.flat`, whether a CV folder still holds
the folds its summary is over by :mod:`.coverage`)."""
