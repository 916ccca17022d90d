"""Central's web service: the public pages behind the QR codes (document
verification, letter inquiry, application tracking) and the staff console.

`app.create_app(db_url)` builds the ASGI app; `ur-central web` serves it with
uvicorn. Every request reads the shared database: no process keeps state a
second one would need (rate-limit counters are per process, see ratelimit).
"""
