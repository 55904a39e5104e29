"""The framework adapters: each translates the session policy to one framework's hooks.

``glue`` holds what they all do the same way; ``tornado``, ``sanic``, and the ASGI and aiohttp.web adapters
(:mod:`tornado_dynasession.asgi`, :mod:`tornado_dynasession.aiohttp_web`) import only their own framework.
Nothing is imported here, so that importing one adapter never imports another's framework.
"""
