"""Groups of ``qualityloop`` sub-commands, a module per topic; ``common`` is what they share."""
