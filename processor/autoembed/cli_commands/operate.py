"""Commands that operate the deployment: the schedule, the Vault secrets, the model, a signed trigger."""

from __future__ import annotations

import argparse
import sys

from autoembed.cli_commands.base import Needs, checked, command, fail
from autoembed.config import read_dimensions
from autoembed.config_values import http_url
from autoembed.status_view import plural


def _set_schedule(needs: Needs, active: bool | None, cron: str | None) -> int:
    """Pause, resume or reschedule the pg_cron job process-embedding-queue."""
    import psycopg

    with needs.database() as db:
        try:
            job = db.set_schedule(active, cron)
        except psycopg.Error as exc:  # pg_cron's own words, with no SQLSTATE of a person's
            if not str(exc.diag.message_primary or "").startswith("invalid schedule"):
                raise
            return fail(2, f"{cron!r} is not a pg_cron schedule: five fields, e.g. '*/5 * * * *' "
                           "(pg_cron 1.5 and later also take '30 seconds')")
    print(f"pg_cron job {job['job']}: {'active' if job['active'] else 'paused'}, schedule {job['schedule']}")
    return 0


@command("pause", "pause the pg_cron job that dispatches runs")
def pause(args: argparse.Namespace, needs: Needs) -> int:
    return _set_schedule(needs, False, None)


@command("resume", "resume the pg_cron job that dispatches runs")
def resume(args: argparse.Namespace, needs: Needs) -> int:
    return _set_schedule(needs, True, None)


def _schedule_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cron", help="a pg_cron schedule, e.g. '*/10 * * * *'")


@command("schedule", "change how often pg_cron dispatches runs", _schedule_arguments)
def schedule(args: argparse.Namespace, needs: Needs) -> int:
    return _set_schedule(needs, None, args.cron)


def _secrets_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["set"])
    parser.add_argument("--url", type=checked(http_url, "--url"),
                        help="the processor's URL, e.g. https://app.example/api/process-embedding-queue")
    parser.add_argument("--signing-secret", help="the signing secret (also set on the processor)")
    parser.add_argument("--generate-signing-secret", action="store_true",
                        help="make a new random signing secret, store it and print it once")


@command("secrets", "set the Vault secrets the dispatch reads (idempotent)", _secrets_arguments)
def secrets(args: argparse.Namespace, needs: Needs) -> int:
    """Create or update the Vault secrets the dispatch function reads."""
    import secrets as random_secrets

    signing_secret = random_secrets.token_hex(32) if args.generate_signing_secret else args.signing_secret
    if not args.url and not signing_secret:
        return fail(2, "nothing to set: give --url, --signing-secret or --generate-signing-secret")
    with needs.database() as db:
        if args.url:
            db.set_secret("autoembed_processor_url", args.url)
            print("Vault secret autoembed_processor_url set")
        if signing_secret:
            db.set_secret("autoembed_signing_secret", signing_secret)
            print("Vault secret autoembed_signing_secret set")
    if signing_secret and args.generate_signing_secret:
        print(f"EMBEDDING_SIGNING_SECRET={signing_secret}")
        print("set it on the processor now (keep the old one as EMBEDDING_SIGNING_SECRET_PREVIOUS "
              "until the next tick has passed)", file=sys.stderr)
    return 0


def _switch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the model to switch to (checked with the provider first)")
    parser.add_argument("--dimensions", type=checked(read_dimensions, "--dimensions"), default=None,
                        help="shorten a text-embedding-3 model, or give an unknown model's size")


@command("switch-model", "make another model the active one, on purpose", _switch_arguments)
def switch_model(args: argparse.Namespace, needs: Needs) -> int:
    """Check the model with the provider (one tiny request), then make it active."""
    from dataclasses import replace

    from autoembed.embedders import create_embedder, model_settings
    from autoembed.errors import EmbeddingError

    embedder = create_embedder(replace(needs.settings(), model=args.model, dimensions=args.dimensions))
    with needs.database() as db:
        try:
            embedder.embed(["autoembed model check"])
        except EmbeddingError as exc:
            return fail(2, f"{args.model} was not switched to; the provider did not answer for it: {exc}")
        if not db.activate_model(embedder.model, embedder.dimensions):
            print(f"{embedder.model} was already the active model")
            return 0
        queued = db.remaining()
    print(f"active model is now {embedder.model} ({embedder.dimensions} dimensions); "
          f"{plural(queued, 'row', 'rows')} queued; set "
          f"{model_settings(embedder.model, embedder.dimensions)} for the processor")
    return 0


COMMANDS = (pause, resume, schedule, secrets, switch_model)
