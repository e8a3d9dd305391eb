"""The HTTP front doors: the partners' gateway (``web.gateway``, `kim gateway`) and the analysts' read API with
its dashboard (``web.analysts``, `kim serve`). Both answer every error as one JSON line (``web.problems``)."""
