# The im server image: `im serve` on 0.0.0.0:8000. Backends are chosen with IM_* variables
# (see compose.yaml and the README settings table). The `test` stage adds the test suite, for
# running the contract suites against the compose stack's KurrentDB and MongoDB.
FROM python:3.12-slim AS app

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY commands ./commands
COPY projections ./projections
COPY queries ./queries
COPY gateway ./gateway
COPY docs ./docs
# Editable, so modules that read files next to the packages (docs/) find them in /app.
RUN pip install -e .

RUN useradd --create-home --uid 10001 im && mkdir -p /data && chown im /data
USER im
ENV IM_HOST=0.0.0.0 \
    IM_PORT=8000 \
    IM_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
CMD ["im", "serve"]

FROM app AS test
USER root
COPY tests ./tests
RUN pip install -e '.[test]' && chown -R im /app
USER im
CMD ["pytest", "-q", "tests/contract"]

FROM app
