"""``automatte serve``: the HTTP API (:mod:`automatte.serve.app`), its page (``static/``) and its command
(:mod:`automatte.serve.cli`). Nothing is imported here, so ``automatte`` starts without loading FastAPI.
"""
