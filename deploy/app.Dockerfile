# The model service and the gateway replicas (no GUI libraries): `python -m services.model`,
# `python -m services.gateway`. Build context: the repository root.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore VIRTUAL_ENV=/opt/traitsweb PATH=/opt/traitsweb/bin:$PATH
RUN python -m venv /opt/traitsweb \
 && useradd --uid 10001 --create-home --shell /usr/sbin/nologin traitsweb \
 && install -d -o traitsweb -g traitsweb /data
WORKDIR /src
COPY pyproject.toml README.md ./
COPY traitsweb ./traitsweb
COPY services ./services
RUN pip install --no-cache-dir ".[gateway]" && rm -rf /src/build /src/*.egg-info
# secrets: the one-shot generator (compose's `secrets` service) and the entrypoint that reads *_FILE variables
COPY deploy/secrets/env.sh /usr/local/bin/traitsweb-env
COPY deploy/secrets/generate.py /usr/local/bin/traitsweb-secrets
RUN chmod 755 /usr/local/bin/traitsweb-env /usr/local/bin/traitsweb-secrets
WORKDIR /data
USER traitsweb
EXPOSE 8080
ENTRYPOINT ["traitsweb-env"]
CMD ["python", "-m", "services.model"]
