"""``app.get_functions()`` may be called once per process (a second call raises), so tests share one reading."""

from functools import cache
from typing import Any


@cache
def http_routes() -> dict[str, tuple[str, list[str]]]:
    """Function name → (route, sorted methods) of the product app's HTTP functions."""
    import function_app

    routes: dict[str, tuple[str, list[str]]] = {}
    for f in function_app.app.get_functions():
        trigger: dict[str, Any] = f.get_trigger().get_dict_repr()
        if trigger["type"] == "httpTrigger":
            routes[f.get_function_name()] = (trigger["route"], sorted(str(m.value) for m in trigger["methods"]))
    return routes


METHOD_REFUSAL = "method_not_allowed"  # functions/api/unlisted_methods.py: HEAD/OPTIONS on any path, no operation


def api_operations() -> set[tuple[str, str]]:
    """(METHOD, "/route") of every API operation the app serves: its HTTP functions but the method refusal."""
    return {
        (m, "/" + route) for name, (route, methods) in http_routes().items() if name != METHOD_REFUSAL for m in methods
    }
