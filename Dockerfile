# kymaprov, the service: the HTTP API on 8080 and the embedded Kubernetes API (TLS) on 6443.
#   docker build -t kymaprov . && docker run -p 8080:8080 -p 6443:6443 -v kymaprov-data:/data kymaprov
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip install ".[server]" \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin kymaprov \
    && mkdir -p /data \
    && chown kymaprov:kymaprov /data

USER kymaprov
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080 6443

# the URLs and kubeconfigs kymaprov hands out name this host: set it to what clients reach
ENV KYMAPROV_ADVERTISE_HOST=localhost

HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]

ENTRYPOINT ["kymaprov"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--kube-port", "6443", "--data-dir", "/data"]
