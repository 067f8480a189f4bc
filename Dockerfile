# One image for web, worker and beat (compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsndfile1 nodejs npm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
# torch==2.13.0 from the CPU index keeps the image free of CUDA.
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt
COPY frontend/package.json frontend/package-lock.json frontend/
RUN npm ci --prefix frontend
COPY . .
# collectstatic needs settings, not the real key (compose gives that at run time).
RUN SECRET_KEY=only-for-collectstatic-while-building-the-image python manage.py collectstatic --noinput

EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000"]
