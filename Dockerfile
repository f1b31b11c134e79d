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
CMD ["sip-ledger", "--help"]
