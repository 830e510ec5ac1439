"""WebDataset shard writer: byte-reproducible, atomically written tar shards per split.

Public entry points: :func:`write_shards` for a run's tables and :func:`write_split` for ready samples.
"""

from echoground.shards.assemble import ShardConfig, key_frame_index, load_frames_from_path, write_shards
from echoground.shards.writer import (
    ShardSample,
    SplitSummary,
    check_key,
    encode_jpeg,
    encode_json,
    encode_npy,
    make_sample,
    write_split,
)

__all__ = [
    "ShardConfig",
    "ShardSample",
    "SplitSummary",
    "check_key",
    "encode_jpeg",
    "encode_json",
    "encode_npy",
    "key_frame_index",
    "load_frames_from_path",
    "make_sample",
    "write_shards",
    "write_split",
]
