"""A method needing an extra the worker lacks answers -32009 naming the extra, not -32000 ModuleNotFoundError.

The end-to-end case (a lean install asked for model/load) is in test_wheel.py; here the rule itself, with a
module name that is surely not installed standing in for torch.
"""

from __future__ import annotations

import pytest

from tests.e2e.wire import ROOT
from worker import extras
from worker.errors import UnsupportedTask
from worker.runtime.dispatch import response_for_exception

ABSENT = "hf_worker_test_module_that_is_not_installed"


@pytest.fixture(autouse=True)
def absent_module_in_the_models_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(extras._EXTRA_OF, ABSENT, "models")


def _import_error(name: str) -> ModuleNotFoundError:
    return ModuleNotFoundError(f"No module named {name!r}", name=name)


def test_a_missing_module_of_an_extra_names_the_extra_and_the_pip_command() -> None:
    error = extras.missing_extra(_import_error(f"{ABSENT}.submodule"))
    assert isinstance(error, UnsupportedTask) and error.code == -32009
    assert "pip install 'hf-worker[models]'" in error.message
    assert error.data == {"extra": "models", "missing": ABSENT}


def test_a_missing_module_behind_a_library_error_is_found_through_its_cause() -> None:
    try:
        try:
            raise _import_error(ABSENT)
        except ModuleNotFoundError as exc:
            raise RuntimeError("the pipeline could not be built") from exc
    except RuntimeError as wrapped:
        error = extras.missing_extra(wrapped)
    assert error is not None and error.data == {"extra": "models", "missing": ABSENT}


def test_other_import_errors_are_not_explained_as_a_missing_extra() -> None:
    assert extras.missing_extra(_import_error("some_unrelated_module")) is None
    # torch is installed here: a failing import of part of it is a real error, not a missing extra.
    assert extras.missing_extra(_import_error("torch.not_a_submodule")) is None
    assert extras.missing_extra(ValueError("bad value")) is None


def test_the_answer_keeps_the_original_type_and_message_beside_the_extra() -> None:
    response = response_for_exception(7, _import_error(ABSENT), debug=False)
    assert response.error.code == -32009
    assert response.error.data == {
        "type": "ModuleNotFoundError",
        "message": f"No module named {ABSENT!r}",
        "extra": "models",
        "missing": ABSENT,
    }


def test_every_extra_the_errors_name_is_declared_and_all_brings_them() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and later

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["optional-dependencies"]
    assert set(extras.EXTRAS) <= set(declared)
    assert declared["all"] == [f"hf-worker[{','.join(extras.EXTRAS)}]"]
    # The lean core: what the protocol, the test methods and tensor/* need, and nothing heavy.
    assert [d.split(">")[0] for d in project["dependencies"]] == ["msgspec", "numpy"]
