"""Web pages: the dashboard and the generic record pages (one list and one detail view for every
record kind in ``qualityloop.services.record_kinds``)."""
