FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1
COPY requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir -r requirements.lock
COPY . .
RUN apt-get update && apt-get install -y --no-install-recommends gettext \
    && DJANGO_SECRET_KEY=compilemessages python manage.py compilemessages --ignore=tests \
    && apt-get purge -y gettext && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
RUN DJANGO_SECRET_KEY=collectstatic python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "inboundflow.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2"]
