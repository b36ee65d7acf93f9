# The desktop service (Chaco plot of the live model): headless PNGs by default, or the live Qt
# window on the host's display (compose profile "gui"). Only this image carries GUI libraries.
# The user has a home: Enthought's ETSConfig keeps its application data there.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore VIRTUAL_ENV=/opt/traitsweb PATH=/opt/traitsweb/bin:$PATH
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libglib2.0-0 libgl1 libegl1 libfontconfig1 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0 \
      libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xkb1 libxcb-cursor0 \
      libxcb-shape0 libxcb-randr0 libxcb-xinerama0 libx11-xcb1 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/traitsweb \
 && useradd --uid 10001 --create-home --shell /usr/sbin/nologin traitsweb \
 && install -d -o traitsweb -g traitsweb /snapshots
WORKDIR /src
COPY pyproject.toml README.md ./
COPY traitsweb ./traitsweb
COPY services ./services
RUN pip install --no-cache-dir ".[desktop]" && rm -rf /src/build /src/*.egg-info
COPY deploy/secrets/env.sh /usr/local/bin/traitsweb-env
RUN chmod 755 /usr/local/bin/traitsweb-env
WORKDIR /snapshots
USER traitsweb
ENTRYPOINT ["traitsweb-env"]
CMD ["python", "-m", "services.desktop", "--headless", "--snapshot-dir", "/snapshots"]
