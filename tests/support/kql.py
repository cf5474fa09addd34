"""Check KQL queries against the tables Application Insights has and the names the service emits.

There is no Kusto engine here, so a query that names a column Application Insights does not have, a metric the
service does not emit, or an attribute a metric does not carry would pass every local test and show an empty
panel, or an alert that never fires, only on Azure. This reads a query the way Kusto would resolve its names:
statement by statement (``let``), operator by operator (``|``), tracking the columns each operator leaves
(``extend``/``project``/``summarize`` aliases, ``join`` and ``union``), and reports

* a column that is neither in the table nor created upstream;
* a function it does not know (a typo such as ``percentil`` would otherwise only fail in the portal);
* a string compared to ``name`` that is not a span name (``requests``/``dependencies``) or a metric name
  (``customMetrics``) from :mod:`shared.telemetry.names`;
* a ``customDimensions["key"]`` that is not an attribute from there, and, over ``customMetrics``, one that none
  of the metrics the query filters on carries (``METRIC_ATTRIBUTES``);
* a ``cloud_RoleName`` compared to something that is not one of the service names.

It understands the part of KQL the workbook and the alerts use and raises :class:`Unsupported` on anything else,
so a query that outgrows it fails its test loudly instead of being half-read (as tests/support/bicep.py does for
Bicep). Aggregates must be named (``n = count()``): Kusto's generated names (``count_``, ``avg_duration``) are
easy to misspell downstream, and naming them keeps the column tracking exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from shared.telemetry import names as tn

# The tables of an Application Insights resource as its own queries see them (the classic names a workbook with
# resourceType microsoft.insights/components and a log alert scoped to the component use), with their columns.
# Source: the column lists of learn:/azure/azure-monitor/app/convert-classic-resource ("Workspace-based resource
# changes": the legacy table and column names beside AppRequests, AppDependencies, AppMetrics, AppTraces) and the
# data model pages learn:/azure/azure-monitor/app/data-model-complete; the workspace tables' own references are
# learn:/azure/azure-monitor/reference/tables/apprequests, .../appdependencies, .../appmetrics, .../apptraces.
_COMMON = frozenset(
    {
        "timestamp",
        "itemId",
        "itemType",
        "customDimensions",
        "operation_Name",
        "operation_Id",
        "operation_ParentId",
        "operation_SyntheticSource",
        "session_Id",
        "user_Id",
        "user_AuthenticatedId",
        "user_AccountId",
        "application_Version",
        "client_Type",
        "client_Model",
        "client_OS",
        "client_IP",
        "client_City",
        "client_StateOrProvince",
        "client_CountryOrRegion",
        "client_Browser",
        "cloud_RoleName",
        "cloud_RoleInstance",
        "appId",
        "appName",
        "iKey",
        "sdkVersion",
    }
)
_CALLS = frozenset(
    {"id", "name", "success", "resultCode", "duration", "performanceBucket", "customMeasurements", "itemCount"}
)
TABLES: Mapping[str, frozenset[str]] = {
    "requests": _COMMON | _CALLS | {"source", "url"},
    "dependencies": _COMMON | _CALLS | {"target", "type", "data"},
    "customMetrics": _COMMON | {"name", "value", "valueCount", "valueSum", "valueMin", "valueMax", "valueStdDev"},
    "traces": _COMMON | {"message", "severityLevel", "customMeasurements", "itemCount"},
}
SPAN_TABLES = frozenset({"requests", "dependencies"})
METRIC_TABLE = "customMetrics"

# Functions (scalar and aggregate) the queries may call: learn:/kusto/query/scalar-functions and
# learn:/kusto/query/aggregation-functions. Anything else is reported, so a misspelt one fails here.
FUNCTIONS = frozenset(
    {
        "abs",
        "ago",
        "avg",
        "avgif",
        "bin",
        "case",
        "coalesce",
        "count",
        "countif",
        "datetime",
        "dcount",
        "dcountif",
        "iff",
        "iif",
        "isempty",
        "isnotempty",
        "isnotnull",
        "isnull",
        "max",
        "maxif",
        "max_of",
        "min",
        "minif",
        "min_of",
        "not",
        "now",
        "percentile",
        "round",
        "strcat",
        "sum",
        "sumif",
        "take_any",
        "timespan",
        "tobool",
        "todatetime",
        "todouble",
        "toint",
        "tolong",
        "toreal",
        "toscalar",
        "tostring",
    }
)
# Functions whose arguments are literals Kusto parses itself (datetime(2024-01-01T00:00:00Z) is not an expression).
_LITERAL_FUNCTIONS = frozenset({"datetime", "timespan"})
KEYWORDS = frozenset(
    {
        "and",
        "or",
        "in",
        "has",
        "contains",
        "startswith",
        "endswith",
        "asc",
        "desc",
        "nulls",
        "first",
        "last",
        "true",
        "false",
        "null",
        "by",
    }
)
_HYPHENATED = frozenset({"project-away", "project-rename", "project-reorder", "mv-expand", "make-series"})
_TOKEN = re.compile(
    r"""
    (?P<space>\s+|//[^\n]*)
   |(?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
   |(?P<num>\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|min|d|h|m|s)?(?![\w.]))
   |(?P<ident>\$?[A-Za-z_]\w*)
   |(?P<op>==|!=|=~|!~|<=|>=|[-+*/%<>=!|(),;\[\].:])
    """,
    re.VERBOSE,
)
_PARAMETER = re.compile(r"\{(\w+)(?::(\w+))?\}")


class Unsupported(ValueError):
    """A query uses KQL this reader does not understand: extend the reader rather than skip the check."""


@dataclass(frozen=True)
class Token:
    kind: str  # str, num, ident, op
    text: str
    at: int  # offset in the query, for messages

    @property
    def value(self) -> str:
        """A string literal's value (KQL's backslash escapes are rare in these queries: only \\" and \\\\)."""
        return self.text[1:-1].replace('\\"', '"').replace("\\\\", "\\")

    def is_op(self, *texts: str) -> bool:
        return self.kind == "op" and self.text in texts

    def is_word(self, *words: str) -> bool:
        return self.kind == "ident" and self.text in words


@dataclass(frozen=True)
class Names:
    """What the service emits, by kind: the universe a query's literals and keys must come from."""

    spans: frozenset[str]
    metrics: frozenset[str]
    attributes: frozenset[str]
    metric_attributes: Mapping[str, frozenset[str]]
    services: frozenset[str]

    @classmethod
    def emitted(cls) -> Names:
        return cls(
            spans=tn.span_names(),
            metrics=tn.metric_names(),
            attributes=tn.attribute_names(),
            metric_attributes=tn.METRIC_ATTRIBUTES,
            services=frozenset({tn.SERVICE_FUNCTIONS, tn.SERVICE_WORKER, tn.SERVICE_DEVHOST}),
        )


@dataclass(frozen=True)
class Relation:
    """A tabular result: its columns, the tables it comes from and the metrics its pipeline filtered on."""

    columns: frozenset[str]
    tables: frozenset[str] = frozenset()
    metrics: frozenset[str] = frozenset()


@dataclass
class Report:
    """What one query names, and what is wrong with it."""

    problems: list[str] = field(default_factory=list)
    tables: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)  # string literals compared to ``name``
    keys: set[str] = field(default_factory=set)  # customDimensions keys
    parameters: set[str] = field(default_factory=set)  # workbook parameters, {Name} or {Name:format}


def expand_parameters(query: str, values: Mapping[str, str], report: Report) -> str:
    """Replace workbook parameters (``{TimeRange}``, ``{TimeRange:grain}``, ``{JobId}``) with sample values.

    ``values`` maps ``Name`` or ``Name:format`` to the text the workbook would insert
    (learn:/azure/azure-monitor/visualize/workbooks-parameters); a parameter not in it is reported.
    """

    def one(match: re.Match[str]) -> str:
        name, fmt = match.group(1), match.group(2)
        report.parameters.add(name)
        key = f"{name}:{fmt}" if fmt else name
        if key not in values:
            report.problems.append(f"{{{key}}}: not a parameter of the workbook")
            return "0"
        return values[key]

    return _PARAMETER.sub(one, query)


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    at = 0
    while at < len(query):
        match = _TOKEN.match(query, at)
        if not match:
            raise Unsupported(f"cannot read {query[at : at + 20]!r} at {at}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), at))
        at = match.end()
    return _join_hyphenated(tokens, query)


def _join_hyphenated(tokens: list[Token], query: str) -> list[Token]:
    """``project-away`` is one operator name, not ``project - away``."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        if i + 2 < len(tokens) and tokens[i + 1].is_op("-") and tokens[i].kind == tokens[i + 2].kind == "ident":
            word = query[tokens[i].at : tokens[i + 2].at + len(tokens[i + 2].text)]
            if word in _HYPHENATED:
                out.append(Token("ident", word, tokens[i].at))
                i += 3
                continue
        out.append(tokens[i])
        i += 1
    return out


def check(query: str, names: Names | None = None, parameters: Mapping[str, str] | None = None) -> Report:
    """Read one query; the returned report lists its problems (empty: every name resolves)."""
    report = Report()
    text = expand_parameters(query, parameters or {}, report)
    _Checker(names or Names.emitted(), report).query(tokenize(text))
    return report


class _Checker:
    def __init__(self, names: Names, report: Report) -> None:
        self.names = names
        self.report = report
        self.tabular: dict[str, Relation] = {}
        self.scalars: set[str] = set()

    def problem(self, message: str) -> None:
        self.report.problems.append(message)

    # --- statements ----------------------------------------------------------------------------------------------
    def query(self, tokens: list[Token]) -> None:
        statements = [s for s in _split(tokens, ";") if s]
        if not statements:
            raise Unsupported("empty query")
        for statement in statements[:-1]:
            self.let(statement)
        self.pipeline(statements[-1])

    def let(self, tokens: list[Token]) -> None:
        if len(tokens) < 4 or not tokens[0].is_word("let") or tokens[1].kind != "ident" or not tokens[2].is_op("="):
            raise Unsupported(f"only 'let name = ...;' statements: {_text(tokens)}")
        name, body = tokens[1].text, tokens[3:]
        if self._is_tabular(body):
            self.tabular[name] = self.pipeline(body)
        else:
            self.expression(body, Relation(frozenset()))
            self.scalars.add(name)

    def _is_tabular(self, tokens: list[Token]) -> bool:
        first = tokens[0]
        if first.is_op("("):
            return self._is_tabular(tokens[1:])
        return first.kind == "ident" and (first.text in TABLES or first.text in self.tabular or first.text == "union")

    # --- tabular expressions -------------------------------------------------------------------------------------
    def pipeline(self, tokens: list[Token]) -> Relation:
        source, *operators = _split(tokens, "|")
        relation = self.source(source)
        if METRIC_TABLE in relation.tables:
            named = {v for op in operators if not op[0].is_word("join", "union") for v in _name_literals(op)}
            relation = replace(relation, metrics=relation.metrics | frozenset(named))
        for operator in operators:
            relation = self.operator(operator, relation)
        return relation

    def source(self, tokens: list[Token]) -> Relation:
        if len(tokens) == 1 and tokens[0].kind == "ident":
            name = tokens[0].text
            if name in TABLES:
                self.report.tables.add(name)
                return Relation(TABLES[name], frozenset({name}))
            if name in self.tabular:
                return self.tabular[name]
            self.problem(f"{name}: not a table of Application Insights")
            return Relation(frozenset())
        if tokens and tokens[0].is_word("union"):
            return self.union(tokens[1:], None)
        if tokens and tokens[0].is_op("(") and tokens[-1].is_op(")"):
            return self.pipeline(tokens[1:-1])
        raise Unsupported(f"source {_text(tokens)}")

    def union(self, tokens: list[Token], left: Relation | None) -> Relation:
        relations = [left] if left else []
        for item in _split(tokens, ","):
            if len(item) >= 3 and item[1].is_op("="):
                raise Unsupported(f"union options: {_text(item)}")
            relations.append(self.source(item))
        return Relation(
            frozenset().union(*(r.columns for r in relations)),
            frozenset().union(*(r.tables for r in relations)),
            frozenset().union(*(r.metrics for r in relations)),
        )

    def operator(self, tokens: list[Token], relation: Relation) -> Relation:
        op, body = tokens[0].text, tokens[1:]
        if op in ("where", "filter"):
            self.expression(body, relation, filtering=True)
            return relation
        if op == "extend":
            columns = set(relation.columns)
            for item in _split(body, ","):
                alias, expression = self._alias(item, "extend")
                self.expression(expression, replace(relation, columns=frozenset(columns)))
                columns.add(alias)
            return replace(relation, columns=frozenset(columns))
        if op == "project":
            projected = set()
            for item in _split(body, ","):
                if len(item) == 1:
                    self.expression(item, relation)
                    projected.add(item[0].text)
                else:
                    alias, expression = self._alias(item, "project")
                    self.expression(expression, relation)
                    projected.add(alias)
            return replace(relation, columns=frozenset(projected))
        if op == "project-away":
            gone = {self._column(item, relation) for item in _split(body, ",")}
            return replace(relation, columns=relation.columns - gone)
        if op == "summarize":
            return self.summarize(body, relation)
        if op in ("order", "sort"):
            if not body or not body[0].is_word("by"):
                raise Unsupported(f"{op} without by")
            for item in _split(body[1:], ","):
                self.expression(item, relation)
            return relation
        if op == "top":
            by = _index_of_word(body, "by")
            if by is None:
                raise Unsupported("top without by")
            self.expression(body[by + 1 :], relation)
            return relation
        if op in ("take", "limit"):
            return relation
        if op == "distinct":
            return replace(relation, columns=frozenset(self._column(item, relation) for item in _split(body, ",")))
        if op == "join":
            return self.join(body, relation)
        if op == "union":
            return self.union(body, relation)
        raise Unsupported(f"operator {op}")

    def summarize(self, body: list[Token], relation: Relation) -> Relation:
        by = _index_of_word(body, "by")
        aggregates, groups = (body, []) if by is None else (body[:by], body[by + 1 :])
        columns = set()
        for item in _split(groups, ","):
            if len(item) >= 3 and item[1].is_op("="):
                alias, expression = self._alias(item, "summarize by")
                self.expression(expression, relation)
                columns.add(alias)
            elif len(item) == 1:
                columns.add(self._column(item, relation))
            elif item[0].is_word("bin") and len(item) >= 4 and item[1].is_op("(") and item[2].kind == "ident":
                self.expression(item, relation)
                columns.add(item[2].text)  # bin(timestamp, 1h) keeps the column's name
            else:
                self.problem(f"summarize by {_text(item)}: name the group (x = ...)")
        for item in _split(aggregates, ","):
            alias, expression = self._alias(item, "summarize")
            self.expression(expression, relation)
            columns.add(alias)
        return replace(relation, columns=frozenset(columns))

    def join(self, body: list[Token], left: Relation) -> Relation:
        i = 0
        while i + 2 < len(body) and body[i].kind == "ident" and body[i + 1].is_op("="):
            if body[i].text != "kind":
                raise Unsupported(f"join option {body[i].text}")
            i += 3
        if not body[i].is_op("("):
            raise Unsupported("join needs a parenthesised right side")
        close = _closing(body, i)
        right = self.pipeline(body[i + 1 : close])
        on = body[close + 1 :]
        if not on or not on[0].is_word("on"):
            raise Unsupported("join without on")
        for key in _split(on[1:], ","):
            if len(key) == 1:
                for side, relation in (("left", left), ("right", right)):
                    if key[0].text not in relation.columns:
                        self.problem(f"join on {key[0].text}: not a column of the {side} side")
            else:
                raise Unsupported(f"join keys {_text(key)}: use one column name on both sides")
        renamed = {c if c not in left.columns else f"{c}1" for c in right.columns}
        return Relation(left.columns | renamed, left.tables | right.tables, left.metrics | right.metrics)

    def _alias(self, item: list[Token], where: str) -> tuple[str, list[Token]]:
        if len(item) >= 3 and item[0].kind == "ident" and item[1].is_op("="):
            return item[0].text, item[2:]
        raise Unsupported(f"{where} {_text(item)}: name the column (x = ...)")

    def _column(self, item: list[Token], relation: Relation) -> str:
        if len(item) != 1 or item[0].kind != "ident":
            raise Unsupported(f"expected a column name: {_text(item)}")
        if item[0].text not in relation.columns:
            self.problem(f"{item[0].text}: no such column here (has {sorted(relation.columns)})")
        return item[0].text

    # --- scalar expressions --------------------------------------------------------------------------------------
    def expression(self, tokens: list[Token], relation: Relation, filtering: bool = False) -> None:
        """Check the names in a scalar expression; ``filtering``: it is a ``where`` clause's predicate."""
        i = 0
        while i < len(tokens):
            token = tokens[i]
            following = tokens[i + 1] if i + 1 < len(tokens) else None
            if token.kind != "ident":
                if token.is_op(".") and following and following.kind == "ident":
                    raise Unsupported(f'property access .{following.text}: use x["key"]')
                i += 1
                continue
            if token.text in KEYWORDS:  # before calls: in ("a", "b") is not a function
                i += 1
                continue
            if following and following.is_op("("):
                i = self.call(tokens, i, relation)
                continue
            if token.text in self.scalars or token.text in self.tabular:
                i += 1
                continue
            if token.text not in relation.columns:
                self.problem(f"{token.text}: no such column here")
            elif token.text in ("customDimensions", "customMeasurements"):
                i = self.dimension(tokens, i, relation, filtering)
                continue
            elif token.text == "name":
                self.compared(tokens, i, self._name_universe(relation), "name")
            elif token.text == "cloud_RoleName":
                self.compared(tokens, i, self.names.services, "cloud_RoleName")
            i += 1

    def call(self, tokens: list[Token], i: int, relation: Relation) -> int:
        name, close = tokens[i].text, _closing(tokens, i + 1)
        if name not in FUNCTIONS:
            self.problem(f"{name}(): not a function this reader knows (a typo?)")
        elif name == "toscalar":
            self.pipeline(tokens[i + 2 : close])
            return close + 1
        elif name in _LITERAL_FUNCTIONS:
            return close + 1
        return i + 2  # the arguments are read as part of the enclosing expression

    def dimension(self, tokens: list[Token], i: int, relation: Relation, filtering: bool) -> int:
        """``customDimensions["key"]``: the key must be an attribute, and over metrics one the named metrics carry.

        Filtering on a key (``where``) drops every row of a metric that lacks it, so each named metric must carry
        it; grouping or extending by one (``failures by error_code`` over jobs and segments) needs only one to.
        """
        bag = tokens[i].text
        if not (i + 3 < len(tokens) and tokens[i + 1].is_op("[") and tokens[i + 3].is_op("]")):
            return i + 1  # the whole bag (projected, or passed to a function)
        key = tokens[i + 2]
        if key.kind != "str":
            raise Unsupported(f"{bag}[{key.text}]: keys must be string literals")
        self.report.keys.add(key.value)
        if bag == "customMeasurements" or key.value not in self.names.attributes:
            self.problem(f'{bag}["{key.value}"]: not an attribute the service emits')
        elif relation.tables == {METRIC_TABLE}:
            if not relation.metrics:
                self.problem(f'customDimensions["{key.value}"]: the query reads an attribute but names no metric')
            lacking = sorted(m for m in relation.metrics if key.value not in self.names.metric_attributes.get(m, ()))
            if relation.metrics and (lacking if filtering else set(lacking) == relation.metrics):
                self.problem(f'customDimensions["{key.value}"]: {lacking} do not carry it')
        return i + 4

    def _name_universe(self, relation: Relation) -> frozenset[str] | None:
        universe: set[str] = set()
        if relation.tables & SPAN_TABLES:
            universe |= self.names.spans
        if METRIC_TABLE in relation.tables:
            universe |= self.names.metrics
        return frozenset(universe) if universe else None

    def compared(self, tokens: list[Token], i: int, universe: frozenset[str] | None, column: str) -> None:
        """``column == "x"``, ``!= "x"``, ``in ("x", "y")``, ``startswith``/``endswith "x"``: each must match a name."""
        for op, literal in _comparisons(tokens, i):
            if column == "name":
                self.report.names.add(literal)
            if universe is None:
                continue
            if op == "startswith":
                ok = any(n.startswith(literal) for n in universe)
            elif op == "endswith":
                ok = any(n.endswith(literal) for n in universe)
            elif op in ("has", "contains"):
                ok = any(literal.lower() in n.lower() for n in universe)
            else:
                ok = literal in universe
            if not ok:
                self.problem(f'{column} {op} "{literal}": not a name the service emits')


def _comparisons(tokens: list[Token], i: int) -> list[tuple[str, str]]:
    """The literals the column at ``tokens[i]`` is compared to (nothing if it is not compared to literals)."""
    j = i + 1
    if j < len(tokens) and tokens[j].is_op("!"):
        j += 1
    if j + 1 >= len(tokens):
        return []
    op, nxt = tokens[j], tokens[j + 1]
    if op.kind == "op" and op.text in ("==", "!=", "=~", "!~") and nxt.kind == "str":
        return [("==", nxt.value)]
    if op.is_word("in") and nxt.is_op("("):
        inside = tokens[j + 2 : _closing(tokens, j + 1)]
        return [("in", t.value) for t in inside if t.kind == "str"]
    if op.is_word("startswith", "endswith", "has", "contains") and nxt.kind == "str":
        return [(op.text, nxt.value)]
    return []


def _name_literals(tokens: list[Token]) -> Iterable[str]:
    for i, token in enumerate(tokens):
        if token.is_word("name"):
            for op, literal in _comparisons(tokens, i):
                if op in ("==", "in"):
                    yield literal


def _split(tokens: list[Token], separator: str) -> list[list[Token]]:
    """Split at ``separator`` outside brackets."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.is_op("(", "["):
            depth += 1
        elif token.is_op(")", "]"):
            depth -= 1
        if depth == 0 and token.is_op(separator):
            parts.append([])
        else:
            parts[-1].append(token)
    return [p for p in parts if p] if separator != ";" else parts


def _closing(tokens: list[Token], i: int) -> int:
    """The index of the bracket closing the one at ``tokens[i]``."""
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j].is_op("(", "["):
            depth += 1
        elif tokens[j].is_op(")", "]"):
            depth -= 1
            if depth == 0:
                return j
    raise Unsupported(f"unbalanced brackets from offset {tokens[i].at}")


def _index_of_word(tokens: list[Token], word: str) -> int | None:
    depth = 0
    for j, token in enumerate(tokens):
        if token.is_op("(", "["):
            depth += 1
        elif token.is_op(")", "]"):
            depth -= 1
        elif depth == 0 and token.is_word(word):
            return j
    return None


def _text(tokens: list[Token]) -> str:
    return " ".join(t.text for t in tokens)
