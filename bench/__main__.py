"""The benchmark's command line, `python -m bench`: each tab's compute timed against a baseline (the bare model
forward, or the transformers pipeline the tab replaces) on the same checkpoint, side by side in one process."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from bench.cases import CASES, select_cases
from bench.cases.fill_mask import DEFAULT_MLM_MODEL
from bench.cases.qa import DEFAULT_QA_MODEL
from bench.cases.sentiment import DEFAULT_CLASSIFIER_MODEL
from bench.harness import DEFAULT_REPEATS, case_ref, run_cases, run_checks
from bench.random_models import RANDOM_BERT_BASE, RANDOM_DISTILBERT_BASE, RANDOM_DISTILBERT_QA
from bench.report import BenchReport, format_table, machine_info, write_json
from bertviz_ui.errors import BertvizError
from bertviz_ui.registry import OFFLINE_MODEL_ID

DEFAULT_MODEL = OFFLINE_MODEL_ID


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {raw!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Time each tab's compute against the bare model forward (or the transformers pipeline it "
                    "replaces) on the same checkpoint.",
        epilog="Device, cache directory and memory budget come from BERTVIZ_UI_DEVICE, BERTVIZ_UI_CACHE_DIR "
               "and BERTVIZ_UI_CACHE_GB, as for the app.",
        allow_abbrev=False,
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, metavar="REF",
                        help=f"Hub id, local directory or tiny:encoder (default {DEFAULT_MODEL}, offline).")
    parser.add_argument("--mlm-model", default=DEFAULT_MLM_MODEL, metavar="REF",
                        help=f"the fill_mask case's masked LM: {RANDOM_BERT_BASE} (default; "
                             "BertForMaskedLM(BertConfig()) built in memory with random weights, bert-base size) or a "
                             "checkpoint with a trained masked-LM head (Hub id, local directory, tiny:masked_lm).")
    parser.add_argument("--classifier-model", default=DEFAULT_CLASSIFIER_MODEL, metavar="REF",
                        help=f"the sentiment case's classifier: {RANDOM_DISTILBERT_BASE} (default; "
                             "DistilBertForSequenceClassification built in memory with random weights, distilbert-base "
                             "size) or a checkpoint with a trained sequence-classification head (Hub id, local "
                             "directory, tiny:sequence_classification).")
    parser.add_argument("--qa-model", default=DEFAULT_QA_MODEL, metavar="REF",
                        help=f"the qa case's extractive QA model: {RANDOM_DISTILBERT_QA} (default; "
                             "DistilBertForQuestionAnswering built in memory with random weights, distilbert-base "
                             "size) or a checkpoint with a trained span head (Hub id, local directory, "
                             "tiny:question_answering).")
    parser.add_argument("--repeats", type=_positive_int, default=DEFAULT_REPEATS, metavar="N",
                        help=f"measurements per variant; medians are reported (default {DEFAULT_REPEATS}).")
    parser.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                        help="torch.set_num_threads(N) before timing (default: torch's own choice).")
    parser.add_argument("--cases", default="", metavar="NAME[,NAME]",
                        help=f"which cases to run (default all: {', '.join(case.name for case in CASES)}).")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results as JSON.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark from the command line.

    Args:
        argv: arguments without the program name; defaults to sys.argv[1:].

    Returns:
        The exit status: 0, or 1 when the model can't be loaded (bad flags exit with 2 via argparse).
    """
    from bertviz_ui.config import load_settings
    from bertviz_ui.models import build_cache

    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        cases = select_cases([name.strip() for name in args.cases.split(",") if name.strip()])
    except ValueError as error:
        parser.error(str(error))
    if args.threads:
        torch.set_num_threads(args.threads)
    refs = {"fill_mask": args.mlm_model, "sentiment": args.classifier_model, "qa": args.qa_model}
    try:
        cache = build_cache(load_settings((), os.environ))
        machine = machine_info(cache)
        results = run_cases(cache, args.model, cases, repeats=args.repeats, refs=refs)
        checks = run_checks(cache, cases, results)
    except BertvizError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1
    case_models = {case.name: case_ref(case, args.model, refs) for case in cases}
    report = BenchReport(model=args.model, repeats=args.repeats, machine=machine, results=results,
                         case_models={name: ref for name, ref in case_models.items() if ref != args.model},
                         checks=checks)
    print(format_table(report, cases), end="")
    if args.json is not None:
        write_json(report, args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
