"""The real-time scoring service: a FastAPI app over the ``pipeline`` library (which never imports FastAPI).

Layout follows FastAPI's full-stack template: ``main.py`` builds the app, ``api/routes/<resource>.py`` one router per
resource with its request/response schemas, ``api/deps.py`` the shared dependencies, ``core/`` settings, database,
security, rate limiting and observability, ``models.py`` the tables, ``migrations.py`` the versioned schema.
"""
