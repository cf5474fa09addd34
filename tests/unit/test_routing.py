import pytest

from devhost.routing import Router, compile_template


def _router() -> Router[str]:
    router: Router[str] = Router()
    router.add("uploads", frozenset({"POST"}), "create")
    router.add("uploads/{job_id}", frozenset({"GET"}), "get")
    router.add("items/{id:int}/{part?}", frozenset(), "item")
    router.add("files/{*rest}", frozenset({"GET"}), "files")
    router.add("{kind}/latest", frozenset({"GET"}), "latest")
    return router


@pytest.mark.parametrize(
    ("path", "method", "expected"),
    [
        ("uploads", "POST", ("create", {})),
        ("UPLOADS/", "post", ("create", {})),
        ("uploads/abc", "GET", ("get", {"job_id": "abc"})),
        ("items/42", "DELETE", ("item", {"id": "42"})),
        ("items/42/x", "GET", ("item", {"id": "42", "part": "x"})),
        ("files/a/b/c.txt", "GET", ("files", {"rest": "a/b/c.txt"})),
        ("uploads/latest", "GET", ("get", {"job_id": "latest"})),  # leftmost literal wins, as in ASP.NET
        ("jobs/latest", "GET", ("latest", {"kind": "jobs"})),
    ],
)
def test_templates_match_like_the_functions_host(path: str, method: str, expected: tuple[str, dict[str, str]]) -> None:
    assert _router().match(path, method) == expected


@pytest.mark.parametrize(
    ("path", "method"),
    [("uploads", "GET"), ("uploads/a/b", "GET"), ("items/x", "GET"), ("nothing", "GET")],
)
def test_no_match(path: str, method: str) -> None:
    assert _router().match(path, method) is None


def test_unsupported_templates_are_reported() -> None:
    with pytest.raises(ValueError, match="constraint"):
        compile_template("x/{id:regex}")


def test_a_catch_all_for_head_and_options_comes_after_every_route() -> None:
    """functions/api/unlisted_methods.py relies on it, as on Azure (WebJobsRouteBuilder.RouteComparison sorts a literal
    segment before a parameter): a method a route lists goes to that route, HEAD/OPTIONS to the catch-all."""
    router = _router()
    router.add("{*path}", frozenset({"HEAD", "OPTIONS"}), "refuse")
    assert router.match("uploads", "POST") == ("create", {})
    assert router.match("uploads", "HEAD") == ("refuse", {"path": "uploads"})
    assert router.match("uploads/abc", "OPTIONS") == ("refuse", {"path": "uploads/abc"})
    assert router.match("uploads", "PUT") is None  # other unlisted methods: the host's 404
