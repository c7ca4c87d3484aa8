"""A tag simulator: the SUN URL an NTAG 424 DNA writes at its next tap (PROTOCOL.md §21.2).

For trying the binding end to end without a chip, and for the README walkthrough: it keeps
the tag's read counter in a small JSON file, as the chip keeps it in its memory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import app, console, fail, write_secret
from app.ledger.binding.sun import TagKeys, make_sun


@app.command("tag-sim")
def tag_sim(
    state: Annotated[Path, typer.Argument(help="The simulated tag's file (made by --provision).")],
    provision: Annotated[
        Path | None,
        typer.Option(help="Provision the tag from POST /v1/tags's answer (a JSON file)."),
    ] = None,
    uid: Annotated[str | None, typer.Option(help="The tag's UID, 14 hex digits.")] = None,
) -> None:
    """Print the URL the tag writes at its next tap (its counter goes up by one)."""
    if provision is not None:
        if uid is None:
            raise fail("--provision needs the --uid the tag was registered with")
        answer = json.loads(provision.read_text())
        tag = {
            "url": answer["url"].split("?")[0],
            "uid": uid.upper(),
            "sdm_meta_read": answer["keys"]["sdm_meta_read"],
            "sdm_file_read": answer["keys"]["sdm_file_read"],
            "counter": 0,
        }
        write_secret(state, json.dumps(tag).encode())
        console.print(f"provisioned {tag['url']} in {state}")
        return
    if not state.exists():
        raise fail(f"{state} does not exist: provision the tag first (--provision)")
    tag = json.loads(state.read_text())
    tag["counter"] += 1
    keys = TagKeys(bytes.fromhex(tag["sdm_meta_read"]), bytes.fromhex(tag["sdm_file_read"]))
    picc, mac = make_sun(keys, bytes.fromhex(tag["uid"]), tag["counter"])
    state.write_text(json.dumps(tag))
    print(f"{tag['url']}?picc_data={picc.hex().upper()}&cmac={mac.hex().upper()}")
