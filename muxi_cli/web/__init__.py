"""The chat app in a browser: ``muxi web`` and ``muxi serve --web``.

Each browser connection runs the Textual chat app as a child process
(``python -m muxi_cli ... web --app-process``) under Textual's web driver and
relays its terminal stream over a WebSocket to xterm.js (textual-serve's
``AppService`` and static files). Headless: nothing here imports Textual.

- :mod:`gate`: who may connect (one-time token, session cookie, Origin check).
- :mod:`child`: the child's command line and environment, and the relay.
- :mod:`page`: the HTML page around the terminal.
- :mod:`aioserver`: the stand-alone server of ``muxi web`` (aiohttp).

``muxi serve --web`` mounts the same pieces under FastAPI
(:mod:`muxi_cli.server.webmount`).
"""

#: The hidden option of ``muxi web`` that runs the chat app itself on this
#: process's stdio (the child side): ``muxi`` alone opens the chat app only on
#: a terminal, and a child of the web server has pipes instead.
APP_PROCESS_FLAG = "--app-process"
