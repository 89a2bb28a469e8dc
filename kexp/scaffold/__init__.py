"""``kexp init``: a commented, runnable spec for a CSV file.

:mod:`.survey` reads the file with pandas (header or not, each column's kind, the
target's task); :mod:`.write` turns that into YAML text with a comment for every
decision; :func:`init_spec` checks the text with kexp's own loader before it is
printed or written. pandas is imported only when :func:`init_spec` runs.
"""

from kexp.scaffold.make import InitResult, init_spec

__all__ = ["InitResult", "init_spec"]
