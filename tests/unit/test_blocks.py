import base64

import pytest

from shared.blocks import (
    MAX_BLOB_SIZE,
    MAX_BLOCK_SIZE,
    MAX_COMMITTED_BLOCKS,
    MIB,
    BlockPlan,
    block_id,
    block_index,
    block_name,
    block_tag,
    commit_is_whole_plan,
    from_ranges,
    received_indices,
    to_ranges,
)

GIB = 1024 * MIB


def test_block_ids_have_one_length_and_round_trip() -> None:
    ids = [block_id(i) for i in (0, 7, 49_999)]
    assert len({len(i) for i in ids}) == 1
    assert base64.b64decode(ids[1]) == b"blk-000007"
    assert block_index(block_name(49_999)) == 49_999


@pytest.mark.parametrize("name", ["", "blk-", "blk-12", "blk-00000x", "other-000001", "blk-0000001"])
def test_foreign_block_names_are_not_ours(name: str) -> None:
    assert block_index(name) is None


def test_preferred_block_size_is_kept_when_it_fits() -> None:
    plan = BlockPlan.for_size(5 * GIB, 8 * MIB)
    assert (plan.block_size, plan.block_count) == (8 * MIB, 640)
    assert plan.length(639) == 8 * MIB


def test_huge_files_get_bigger_blocks_to_stay_under_50000() -> None:
    plan = BlockPlan.for_size(1024 * GIB, 8 * MIB)
    assert plan.block_count <= MAX_COMMITTED_BLOCKS
    assert plan.block_size % MIB == 0
    assert plan.block_size > 8 * MIB


def test_largest_blob_azure_allows_fits_exactly() -> None:
    plan = BlockPlan.for_size(MAX_BLOB_SIZE, 8 * MIB)
    assert (plan.block_size, plan.block_count) == (MAX_BLOCK_SIZE, MAX_COMMITTED_BLOCKS)
    with pytest.raises(ValueError, match="at most 50000 blocks"):
        BlockPlan.for_size(MAX_BLOB_SIZE + 1, 8 * MIB)


def test_last_block_is_the_remainder() -> None:
    plan = BlockPlan.for_size(10 * MIB + 5, 4 * MIB)
    assert [plan.length(i) for i in range(plan.block_count)] == [4 * MIB, 4 * MIB, 2 * MIB + 5]
    assert plan.offset(2) == 8 * MIB


def test_received_counts_only_our_blocks_with_the_planned_size() -> None:
    plan = BlockPlan.for_size(10 * MIB + 5, 4 * MIB)
    blocks = [
        (block_name(0), 4 * MIB),
        (block_name(1), 3),
        (block_name(2), 2 * MIB + 5),
        ("foreign", 4 * MIB),
        (block_name(9), 4 * MIB),
    ]
    assert received_indices(plan, blocks) == {0, 2}


def test_ranges_compress_and_expand() -> None:
    indices = {0, 1, 2, 5, 7, 8}
    assert to_ranges(indices) == [(0, 2), (5, 5), (7, 8)]
    assert from_ranges(to_ranges(indices)) == indices
    assert to_ranges([]) == []


TAG = block_tag("v1-" + "a" * 32)
OTHER = block_tag("v1-" + "b" * 32)


def test_tagged_ids_have_one_length_and_round_trip_only_with_their_tag() -> None:
    ids = [block_id(i, TAG) for i in (0, 7, 49_999)]
    assert len({len(i) for i in ids}) == 1
    assert base64.b64decode(ids[1]) == f"blk-000007-{TAG}".encode()
    assert block_index(block_name(42, TAG), TAG) == 42
    assert block_index(block_name(42, OTHER), TAG) is None  # another file's block
    assert block_index(block_name(42), TAG) is None  # the plain scheme's
    assert block_index(block_name(42, TAG)) is None  # a tagged block is not a plain session's


def test_a_tagged_plan_counts_only_its_own_file_s_blocks() -> None:
    """Blocks of file A staged under a session, then a resume with B: none of A's may count as B's."""
    plan = BlockPlan(3 * MIB, MIB, TAG)
    blocks = [(block_name(0, TAG), MIB), (block_name(1, OTHER), MIB), (block_name(2), MIB)]
    assert received_indices(plan, blocks) == {0}


def test_a_commit_must_be_the_whole_plan_in_order() -> None:
    plan = BlockPlan(3 * MIB, MIB, TAG)
    own = [block_name(i, TAG) for i in range(3)]
    assert commit_is_whole_plan(plan, own)
    assert not commit_is_whole_plan(plan, [*own[:2], block_name(2, OTHER)])  # a splice
    assert not commit_is_whole_plan(plan, own[::-1])
    assert not commit_is_whole_plan(plan, own[:2])
    assert not commit_is_whole_plan(plan, [*own, own[0]])
