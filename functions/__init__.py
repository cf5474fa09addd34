"""The Function App's functions: api/ (HTTP) and pipeline/ (triggers, orchestrations, activities), registered by
``function_app.py``."""
