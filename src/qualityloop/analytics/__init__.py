"""QualityLoop's statistics library. Pure Python: it imports nothing from Django, so it can be
used on any DataFrame in a notebook as well as by the app."""
