"""``privft provenance --record ID | --subject VALUE [--artifacts DIR] [--json]``.

Prints what became of the record (kept, duplicate of X, filtered or rejected and why, from the row ledger), then every
training set and model version containing it (directly or through a duplicate it absorbed), with the training
record that carries it. Exit status 0 when found, 1 when nothing contains it or no such record exists, 2 on bad
usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="privft provenance",
                                     description="Which training sets and model versions contain a record or subject.")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--record", help="a source row id, <source>/<drop>/<row>")
    what.add_argument("--subject", help="an e-mail address, phone number, IBAN, customer, account or order id")
    parser.add_argument("--artifacts", default=os.environ.get("PRIVFT_ARTIFACTS", "artifacts"),
                        help="artifact root (default: $PRIVFT_ARTIFACTS or ./artifacts)")
    parser.add_argument("--json", action="store_true", help="print the full answer as JSON")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    from resources.provenance.lookup import lookup, summary_lines
    from resources.provenance.record_state import example_ids, ledger_state, state_line

    if not os.path.isdir(args.artifacts):
        print(f"privft provenance: no artifact root at {args.artifacts!r}; pass --artifacts DIR or set "
              "PRIVFT_ARTIFACTS", file=sys.stderr)
        return 2
    state = ledger_state(args.artifacts, args.record.strip()) if args.record else None
    answer = lookup(args.artifacts, record=args.record, subject=args.subject)
    found = bool(answer["training_sets"] or answer["model_versions"])
    if args.record and state is None and not found:
        examples = ", ".join(example_ids(args.artifacts)) or "none yet"
        print(f"privft provenance: no record {args.record.strip()!r}: no row ledger under {args.artifacts} lists it "
              f"and no training set contains it. A record id is <source>/<drop>/<line>, e.g. {examples}",
              file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({**answer, **({"ledger": state} if args.record else {})}, indent=2, sort_keys=True))
    else:
        print("\n".join(([state_line(state)] if state else []) + summary_lines(answer)))
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
