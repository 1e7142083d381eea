"""The widget app: draw digits, read them live, correct and teach the models, curate the data.

``Dashboard`` is the app (one per visitor); ``notebooks/dashboard.ipynb`` builds and displays it and
``python -m digitlib.dashboard.serve`` serves that notebook with Voila.
"""

from digitlib.dashboard.app import Dashboard
from digitlib.dashboard.services import Services, build_services, shared_services

__all__ = ["Dashboard", "Services", "build_services", "shared_services"]
