"""Summarize support tickets with an LLM, keeping a running cost report."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

log = logging.getLogger("summarize")

PRICES_PER_MILLION = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "claude-3-5-haiku": (0.80, 4.00),
}


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )

    def cost(self, model: str) -> float:
        inp, out = PRICES_PER_MILLION.get(model, (0.0, 0.0))
        return (self.prompt_tokens * inp + self.completion_tokens * out) / 1_000_000


@dataclass
class Ticket:
    id: str
    subject: str
    body: str
    tags: list[str] = field(default_factory=list)


def read_tickets(path: Path) -> Iterator[Ticket]:
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            tags = [t.strip() for t in row.get("tags", "").split(";") if t.strip()]
            yield Ticket(row["id"], row["subject"], row["body"], tags)


def build_prompt(ticket: Ticket, max_chars: int = 4000) -> list[dict]:
    body = ticket.body
    if len(body) > max_chars:
        body = body[: max_chars - 3] + "..."
    return [
        {"role": "system", "content": "You summarize customer tickets in two sentences."},
        {"role": "user", "content": f"Subject: {ticket.subject}\nTags: {', '.join(ticket.tags)}\n\n{body}"},
    ]


def summarize(client, model: str, tickets: Iterable[Ticket], budget_usd: float) -> Usage:
    total = Usage()
    for i, ticket in enumerate(tickets, start=1):
        if total.cost(model) >= budget_usd:
            log.warning("budget of $%.2f reached after %d tickets", budget_usd, i - 1)
            break
        try:
            resp = client.chat.completions.create(model=model, messages=build_prompt(ticket))
        except Exception as exc:  # noqa: BLE001 - log and keep going
            log.error("ticket %s failed: %s", ticket.id, exc)
            continue
        u = resp.usage
        total += Usage(u.prompt_tokens, u.completion_tokens)
        print(json.dumps({"id": ticket.id, "summary": resp.choices[0].message.content}))
    return total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("csv", type=Path)
    p.add_argument("--model", default="gpt-4o-mini", choices=sorted(PRICES_PER_MILLION))
    p.add_argument("--budget", type=float, default=5.0, help="stop after spending this many USD")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from openai import OpenAI

    usage = summarize(OpenAI(), args.model, read_tickets(args.csv), args.budget)
    log.info("used %d+%d tokens, $%.4f", usage.prompt_tokens, usage.completion_tokens, usage.cost(args.model))
    return 0


if __name__ == "__main__":
    sys.exit(main())
