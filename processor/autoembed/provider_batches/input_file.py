"""A provider batch's input file: JSONL requests within the online limits, the file within its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from autoembed.claimed import ClaimedItem
from autoembed.embedders.base import BatchAPI
from autoembed.limits import Limits
from autoembed.request_packing import pack
from autoembed.tokens import Prepared


@dataclass
class InputFile:
    """The requests of one batch and where each entry's text is in them."""

    lines: list[bytes] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)  # inputs per request
    placements: list[tuple[int, int, int]] = field(default_factory=list)  # (queue_id, request, position)
    tokens: int = 0
    size: int = 0  # bytes
    kept: int = 0  # entries that fit, the first ones of those given

    @property
    def content(self) -> bytes:
        return b"".join(self.lines)


def input_file(api: BatchAPI, online: Limits, batch: int,
               prepared: Sequence[tuple[ClaimedItem, Prepared]]) -> InputFile:
    """Pack the texts into requests (``custom_id`` ``batch:n``) until the file is full."""
    ranges = pack([p.tokens for _, p in prepared], max_inputs=online.max_inputs,
                  max_tokens=online.max_request_tokens)
    out = InputFile()
    for n, span in enumerate(ranges):
        chunk = [prepared[i] for i in span]
        line = api.request_line(f"{batch}:{n}", [p.text for _, p in chunk])
        if len(out.lines) >= api.limits.max_requests or out.size + len(line) > api.limits.max_file_bytes:
            break
        out.lines.append(line)
        out.sizes.append(len(chunk))
        out.placements += [(item.queue_id, n, k) for k, (item, _) in enumerate(chunk)]
        out.tokens += sum(p.tokens for _, p in chunk)
        out.size += len(line)
        out.kept += len(chunk)
    return out
