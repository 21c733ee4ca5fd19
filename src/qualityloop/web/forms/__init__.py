"""Web forms. Record forms are generated from the record-kind registry (``records.py``)."""
