"""The Batch API from the command line: ``backfill --batch-api`` sends, ``batches`` lists and cancels."""

from __future__ import annotations

import argparse
import sys

from autoembed.cli_commands.base import Needs, command, fail
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders import create_embedder, model_mismatch, offers_batch_api
from autoembed.errors import EmbeddingError
from autoembed.provider_batches.store import ProviderBatchStore
from autoembed.status_view import plural


def send_backlog(db: Database, settings: Settings, source: str | None = None) -> int:
    """Send the due backlog (of ``source`` only, if given) as Batch API batches; print each one's id,
    entries and cost."""
    from autoembed.provider_batches.submit import submit

    if not offers_batch_api(settings):
        return fail(2, "the Batch API is OpenAI's: set EMBEDDING_PROVIDER=openai")
    embedder = create_embedder(settings)
    if mismatch := model_mismatch(db.active_model(), embedder):
        return fail(2, f"nothing sent: {mismatch}")
    try:
        sent = submit(db, settings, embedder, source=source)
    except EmbeddingError as exc:  # the batch being prepared was given back
        return fail(1, f"nothing sent: {exc}")
    for s in sent:
        print(f"batch {s.batch} ({s.provider_batch_id}): {plural(s.entries, 'entry', 'entries')} in "
              f"{plural(s.requests, 'request', 'requests')}, ~{s.tokens} tokens, "
              f"estimated ${s.batch_cost_usd:.6f} (online ${s.online_cost_usd:.6f})")
    if not sent:
        print("nothing due to send")
    return 0


def _batches_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["list", "cancel"], default="list")
    parser.add_argument("batch_id", nargs="?", metavar="ID",
                        help="the batch to cancel: its number or the provider's id, as listed")


@command("batches", "the Batch API batches in flight; `batches cancel ID`", _batches_arguments)
def batches(args: argparse.Namespace, needs: Needs) -> int:
    """List the batches in flight, or cancel one and give its entries back."""
    if args.action == "cancel" and args.batch_id is None:
        return fail(2, "say which batch: `autoembed batches cancel ID`, its number or the provider's id "
                       "as `autoembed batches` lists it")
    settings = needs.settings() if args.action == "cancel" else None
    with needs.database() as db:
        store = ProviderBatchStore(db)
        open_batches = store.open_batches()
        if settings is None:
            for b in open_batches:
                print(f"batch {b['id']} ({b['provider_batch_id'] or '-'}): {b['state']}, provider "
                      f"{b['provider_status'] or '-'}, {plural(b['entries'], 'entry', 'entries')}, "
                      f"{plural(b['requests'], 'request', 'requests')}, {b['age_seconds']} s old, "
                      f"estimated ${float(b['estimated_cost_usd'] or 0):.6f}")
            if not open_batches:
                print("no batches in flight")
            return 0
        chosen = next((b for b in open_batches
                       if args.batch_id in (str(b["id"]), b["provider_batch_id"])), None)
        if chosen is None:
            return fail(2, f"no batch {args.batch_id} in flight: see `autoembed batches`")
        if chosen["provider_batch_id"]:
            _cancel_at_the_provider(settings, chosen["provider_batch_id"])
        back = store.finish(int(chosen["id"]), None, "cancelled", None, None, "cancelled by the operator")
    print(f"batch {chosen['id']} cancelled; {plural(back, 'entry is', 'entries are')} due again")
    return 0


def _cancel_at_the_provider(settings: Settings, provider_batch_id: str) -> None:
    from autoembed.provider_batches.submit import cancel

    if why := cancel(create_embedder(settings), provider_batch_id):
        # The entries go back to work all the same; the provider may still
        # run (and bill) the batch, whose answers nothing will read.
        print(f"autoembed: the provider did not confirm the cancel ({why})", file=sys.stderr)


COMMANDS = (batches,)
