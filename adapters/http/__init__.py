"""The HTTP service: the FastAPI app (app.py), its edge middlewares, authentication (auth.py) and
its routes (routes/)."""
