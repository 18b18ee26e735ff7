"""The web view: a live sequence diagram of a session, in a browser.

``view`` renders the page (pure functions, shared with the static HTML export), ``board``
keeps what the page shows up to date (from a running proxy or from recordings on disk),
``query`` applies the filter box, ``server`` is the one aiohttp edge (token, event stream),
and ``detached`` runs ``proxy --web``'s page in a process of its own, fed over a pipe.
Only ``server`` imports aiohttp, and only when a web view is asked for.
"""
