# Production image for the api, worker and beat services of docker-compose.yml.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY core core
COPY nlu nlu
COPY cases cases
COPY routing routing
COPY risk risk
COPY mediation mediation
COPY bot bot
COPY channels channels
COPY admin_web admin_web
COPY server server
# torch is pinned in pyproject.toml with the rest of the set; point PIP_EXTRA_INDEX_URL at PyTorch's
# CPU wheel index to get its CPU build instead of the much larger CUDA one.
ARG PIP_EXTRA_INDEX_URL=""
RUN PIP_EXTRA_INDEX_URL="$PIP_EXTRA_INDEX_URL" pip install -c constraints.txt . \
    && useradd --create-home --uid 10001 petition
USER petition
EXPOSE 8000
CMD ["petition", "serve", "--host", "0.0.0.0", "--port", "8000"]
