import time

from shared.ids import is_job_id, new_job_id


def test_job_ids_are_uuid7_and_sort_by_creation_time() -> None:
    first = new_job_id()
    time.sleep(0.002)
    second = new_job_id()
    assert is_job_id(first) and is_job_id(second)
    assert first < second
    assert len({new_job_id() for _ in range(1000)}) == 1000


def test_anything_else_is_not_a_job_id() -> None:
    for value in ["", "../x", "01a22308-92f9-419f-87ae-a00945090e9e", "01A22308-92F9-719F-87AE-A00945090E9E"]:
        assert not is_job_id(value)
