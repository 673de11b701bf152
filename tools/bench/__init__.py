"""Performance report: the claim→complete lifecycle vs hand-written, raw-DB and Celery baselines.

    .venv/bin/python -m tools.bench report [--concurrency 1,4,16] [--seconds 3] [--out bench-report]
"""
