"""Several hosts: merged timelines (``merge``) and the cross-host rules (``rules``)."""
