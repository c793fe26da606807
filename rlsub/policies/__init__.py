"""The networks a trial trains: the JSON-able ``PolicySpec`` and its families (``networks``), virtual batch
norm (``vbn``) and image layouts (``images``)."""
