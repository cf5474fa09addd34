"""scripts/azure/outputs.py: a deployment's outputs as $GITHUB_ENV lines, whatever case ARM returns them in."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest

from tests.conftest import ROOT


def outputs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("outputs", ROOT / "scripts" / "azure" / "outputs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_names_come_out_upper_case_and_values_as_written() -> None:
    lines = outputs().env_lines(
        {
            "azurE_RESOURCE_GROUP": {"type": "String", "value": "rg-prod"},
            "AZURE_MAX": {"type": "Int", "value": 4},
            "aZURE_FLAG": {"type": "Bool", "value": False},
        }
    )
    assert lines == ["AZURE_FLAG=false", "AZURE_MAX=4", "AZURE_RESOURCE_GROUP=rg-prod"]


@pytest.mark.parametrize(
    "bad",
    [
        {"AZURE_X": {"value": "a\nAZURE_RESOURCE_GROUP=someone-elses"}},  # one output must not set another variable
        {"AZURE X": {"value": "a"}},
        {"1AZURE": {"value": "a"}},
    ],
)
def test_an_output_that_could_set_other_variables_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"spans lines|not a valid environment variable name"):
        outputs().env_lines(bad)
