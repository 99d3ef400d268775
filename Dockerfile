# The Utter web tier: FastAPI, the embedded Piper CPU voice and the Modal client. No torch, no CUDA:
# GPU work runs on Modal (MODAL_TOKEN_ID/SECRET set), deployed from modal_app/.
#   docker build -t utter .
#   docker run -p 8000:8000 -v utter-data:/data utter
# Railway, Render, Fly and friends set PORT; the default is 8000.

FROM python:3.11-slim AS build
# piper: the embedded CPU voice; modal: the small client that calls the GPU apps on Modal.
# Neither brings torch. Add asr for automatic reference transcripts (docker build --build-arg EXTRAS=piper,modal,asr).
ARG EXTRAS=piper,modal
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first, so editing the code does not re-download them.
COPY pyproject.toml README.md LICENSE ./
RUN mkdir -p backend/utter && touch backend/utter/__init__.py \
    && /opt/venv/bin/pip install ".[${EXTRAS}]" \
    && /opt/venv/bin/pip uninstall -y utter
COPY backend ./backend
RUN /opt/venv/bin/pip install --no-deps .

FROM python:3.11-slim
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UTTER_DATA_DIR=/data \
    PORT=8000
# A fixed, unprivileged user; /data holds the SQLite file and uploads/ when no DATABASE_URL or R2 is set.
# Mount a volume there to keep them (no VOLUME line: Railway refuses it and wants its own volumes).
RUN useradd --create-home --uid 10001 --user-group utter \
    && mkdir /data && chown utter:utter /data
COPY --from=build /opt/venv /opt/venv
USER utter
WORKDIR /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/api/health' % os.environ.get('PORT', '8000'), timeout=4)"
# exec: the server replaces the shell as PID 1, so SIGTERM reaches it and it stops gracefully
# (it finishes or hands back the task in hand).
CMD ["sh", "-c", "exec utter serve --host 0.0.0.0 --port ${PORT:-8000}"]
