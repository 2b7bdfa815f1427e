"""The web page of `openkoi serve`: a fourth surface, added as one more platform plugin (entry point ``web``).

It shows what the HTTP API holds, to a person signed in with an API token: the task list (live), a task with its
verdict, iterations and progress as it streams, the pending approvals, the digests and the skill proposals, and
a form to start a task. Its data comes from the API's own queries and view models (``bots.api``); its decisions
are POSTs to the API's routes, so the same desks, four-eyes rule and audit apply. Server-rendered HTML
(``render``, ``templates/``), a little plain JavaScript and CSS (``static/``), no build step, nothing fetched
from elsewhere.

Modules: ``settings`` (``[web]``), ``spec`` (the platform spec), ``adapter`` (the platform the service runs: it
adds the routes and posts nothing), ``routes`` (which path is which handler), ``signin`` (the sign-in cookie),
``security`` (the headers every answer carries), ``pages`` (the handlers), ``data`` (what a page shows, read
through the API's queries), ``render`` (the templates), ``assets`` (the static files).
"""
