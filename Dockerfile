FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY projections ./projections
COPY adapters ./adapters
RUN pip install --no-cache-dir .
# The embedded PostgreSQL refuses to run as root without a helper user; in a container the
# database is external (SIP_DATABASE_URL), so run as an ordinary user.
RUN useradd --create-home sip
USER sip
EXPOSE 8000
# Ready: the store answers and the read models are close to the log (503 otherwise).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
# uvicorn as PID 1 handles SIGTERM: open requests finish, the read models stop, connections close.
CMD ["sip-ledger", "serve", "--host", "0.0.0.0", "--port", "8000"]
